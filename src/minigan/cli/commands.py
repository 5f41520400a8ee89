"""What each subcommand does: parse results in, the Python API called, one line out per file."""

from __future__ import annotations

import math
from pathlib import Path

from ..config.limits import MAX_SAMPLES
from ..errors import MiniganError
from ..presets import PRESETS, get_config, preset_names
from ..run import outputs
from ..run.outputs import check_output, writing
from .parser import overrides


def _cmd_train(args) -> int:
    from ..run.folder import next_run_dir
    from ..runtime import configure_process
    from ..training import Trainer, resume

    if args.resume:  # a preset named here must be the run's own (check_resumable compares them)
        preset = {"preset": args.preset} if args.preset else {}
        result = resume(args.resume, force=args.force, restart=args.restart, progress=not args.quiet,
                        **overrides(args), **preset)
    else:
        args.preset = args.preset or "mlp4"
        config = get_config(args.preset, literal=args.literal, **overrides(args))
        if args.dry_run:
            print(config.to_json())
            return 0
        out = (outputs.check_run_folder(args.out) if args.out is not None
               else next_run_dir("runs", args.preset))
        configure_process(config.threads)
        result = Trainer(config, out, progress=not args.quiet).fit()
    return 130 if result.status == "interrupted" else 0


def _cmd_resume(args) -> int:
    from ..training import resume

    result = resume(args.run, force=args.force, restart=args.restart, progress=not args.quiet,
                    **overrides(args))
    return 130 if result.status == "interrupted" else 0


def _cmd_sample(args) -> int:
    from .. import visual
    from ..config.limits import CAPS, check_count
    from ..sampling import explore, load_generator, save_samples

    check_count("--grid-size", args.grid_size, CAPS["grid_size"][0], CAPS["grid_size"][1])
    check_count("--num", args.num, MAX_SAMPLES, "100 times the samples of a standard FID")
    if args.out is None and args.grid is None and args.class_grid is None:
        args.out = Path("samples.npz")
    for path, output in ((args.out, outputs.SAMPLES), (args.grid, outputs.GRID),
                         (args.class_grid, outputs.CLASS_GRID)):
        if path is not None:
            check_output(path, output)
    gen = load_generator(args.run, args.device)
    legend = _class_legend(gen, args.dataset) if args.class_grid else None  # checked before any sampling
    labels = None
    if args.digit is not None or args.labels:
        labels = _requested_labels(args.digit, args.labels, args.num, gen.num_classes)
        args.num = len(labels)
    images, labels = gen.sample(args.num, args.seed, labels)
    if args.out:
        with writing(args.out):
            print(f"wrote {save_samples(args.out, images, labels)}: {len(images)} images")
    if args.grid:
        shown = images[:args.grid_size**2]  # a grid a person can read, however many were drawn
        nrow = min(args.grid_size, math.ceil(math.sqrt(len(shown))))
        with writing(args.grid):
            print(f"wrote {visual.save_grid(shown, args.grid, nrow=nrow)}: the first {len(shown)}")
    if args.class_grid:
        grid = explore.class_grid(gen, seed=args.seed, noise=args.class_grid_noise)
        with writing(args.class_grid):
            print(f"wrote {visual.save_grid(grid, args.class_grid, nrow=10)}")
        if legend:
            print(legend)
    return 0


def _requested_labels(digit: int | None, labels: str | None, num: int, classes: int):
    """--digit (num times) or --labels as int64 class ids, each checked against the classes
    (0: an unconditional generator, which takes none)."""
    import numpy as np

    if digit is not None:
        wanted, given = [digit], str(digit)
    else:
        try:
            wanted, given = [int(v) for v in labels.split(",")], labels
        except ValueError:
            raise MiniganError(f"--labels must be comma-separated digits, got {labels!r}") from None
    if not classes:
        raise MiniganError("--digit/--labels need a conditional run (train with --conditional)")
    if not all(0 <= v < classes for v in wanted):  # checked in Python: 2**64 is no int64
        raise MiniganError(f"--digit/--labels must be in 0..{classes - 1}, got {given}")
    if len(wanted) > MAX_SAMPLES:
        raise MiniganError(f"--labels names {len(wanted):,} samples, above the limit {MAX_SAMPLES:,}")
    return np.array(wanted * num if digit is not None else wanted, dtype=np.int64)


def _class_legend(gen, dataset: str | None) -> str | None:
    """'columns: 0 T-shirt/top, 1 Trouser, ...' for a named dataset's conditional generator."""
    from ..data import DATASETS

    spec = DATASETS.get(dataset or gen.config.dataset)
    if spec is None or not gen.conditional:
        return None
    if spec.num_classes != gen.num_classes:
        raise MiniganError(f"--dataset {spec.name} has {spec.num_classes} classes, this generator "
                           f"{gen.num_classes}; name the dataset it was trained on")
    return "columns: " + ", ".join(f"{i} {name}" for i, name in enumerate(spec.class_names))


def _cmd_eval(args) -> int:
    import json

    from .. import metrics
    from ..runtime import configure_process, resolve_device

    configure_process(args.threads)  # refuses a negative or absurd count
    args.device = str(resolve_device(args.device))  # fail on a missing GPU before any work
    source, dataset, data_dir = args.source, args.dataset, args.data_dir
    if dataset is None:  # a run is scored on the dataset (and folder) it was trained on
        dataset, run_data_dir = metrics.run_dataset(source) if source.is_dir() else ("mnist", None)
        data_dir = data_dir or run_data_dir
    common = dict(dataset=dataset, classifier=args.classifier, data_dir=data_dir, device=args.device,
                  inception=args.inception)
    out = check_output(args.out or (source / "metrics.json" if source.is_dir()
                                    else source.with_suffix(".metrics.json")), outputs.METRICS)
    if source.is_dir():
        results = metrics.evaluate_run(source, num=args.num or 10000, seed=args.seed, **common)
    else:
        results = metrics.evaluate_npz(source, num=args.num, **common)
    floor_num = min(results["num_images"], 10000)  # the floor uses as many real images as were scored
    floor = None if args.no_floor else metrics.real_floor(num=floor_num, **common)
    kept, out = out, outputs.keep_larger_measurement(out, results["num_images"])
    with writing(out):
        metrics.write_metrics_json(out, {"metrics": results, "real_floor": floor, "source": str(source),
                                         "dataset": dataset})
    if args.json:
        print(json.dumps({"metrics": results, "real_floor": floor}, indent=2))
    else:
        print(metrics.format_table(results, floor, dataset))
        print(f"wrote {out}" + (f" (kept {kept}: it measured more samples)" if out != kept else ""))
    return 0


def _cmd_interpolate(args) -> int:
    from .. import visual
    from ..sampling import explore, load_generator

    check_output(args.out, outputs.PICTURE)
    gen = load_generator(args.run)
    images = explore.interpolate(gen, start=args.start, end=args.end, steps=args.steps,
                                 method=args.method, seed=args.seed, rows=args.rows,
                                 noise_scale=args.noise_scale)
    with writing(args.out):
        print(f"wrote {visual.save_grid(images, args.out, nrow=args.steps)}")
    return 0


def _cmd_clock(args) -> int:
    from ..sampling import clock, load_generator

    check_output(args.out, outputs.ANIMATION)
    gen = load_generator(args.run)
    fps, note = clock.clock_fps(gen, args.out, args.fps)
    with writing(args.out):
        path = clock.save_clock(gen, args.out, fps=fps, frames_per_digit=args.frames_per_digit,
                                seed=args.seed, time_hhmm=args.time_hhmm, scale=args.scale, noise=args.noise)
    print(f"wrote {path} at {fps:g} fps" + (f"; {note}" if note else ""))
    return 0


def _cmd_amplitude(args) -> int:
    from .. import visual
    from ..sampling import explore, load_generator

    check_output(args.out, outputs.PICTURE)
    gen = load_generator(args.run)
    images = explore.amplitude_sweep(gen, args.digit, low=args.low, high=args.high, count=args.count,
                                     rows=args.rows, seed=args.seed)
    with writing(args.out):
        print(f"wrote {visual.save_grid(images, args.out, nrow=len(images) // args.rows)}")
    return 0


def _cmd_weights(args) -> int:
    from ..run.weights import format_weights, weight_table

    print(format_weights(weight_table(args.run)))
    return 0


def _cmd_data(args) -> int:
    from ..data.pictures import save_real_grid

    grid = save_real_grid(args.grid, args.dataset, args.data_dir, split=args.split, num=args.num,
                          seed=args.seed, scale=args.scale)
    rows = len(grid.images) // grid.columns
    where = f"one column per class: {', '.join(grid.class_names)}" if grid.class_names else "no labels"
    print(f"wrote {args.grid}: {len(grid.images)} {args.dataset} {args.split} images, {rows} rows ({where})")
    return 0


def _cmd_datasets(args) -> int:
    from ..data import format_datasets

    print(format_datasets())
    return 0


def _cmd_classifier(args) -> int:
    from ..metrics.classifier_cli import run

    check_output(args.out, outputs.CLASSIFIER)
    run(args)  # the only action so far: train
    return 0


def _cmd_serve(args) -> int:
    from ..serve import serve

    serve(args.runs, host=args.host, port=args.port, device=args.device)
    return 0


def _cmd_sweep(args) -> int:
    from ..experiments import commands as experiments

    return experiments.run_sweep(args, overrides(args))


def _cmd_compare(args) -> int:
    from ..experiments import commands as experiments

    return experiments.run_compare(args)


def _cmd_presets(args) -> int:
    from ..models.registry import ARCHITECTURES, NETWORK_FIELDS
    from ..presets import fidelity_markdown

    if args.fidelity is not None:
        print(fidelity_markdown(args.fidelity or None), end="")
        return 0
    for name in preset_names():
        record = PRESETS[name]
        print(f"{name:10s} {record.notes}")
        if record.literal:
            literal = ", ".join(f"{k}={v}" for k, v in record.literal.items())
            print(f"{'':10s} --literal: {literal}")
    print("\nnetwork fields each architecture honours (others are refused):")
    for arch, spec in ARCHITECTURES.items():
        print(f"  {arch:6s} {', '.join(n for n in NETWORK_FIELDS if n in spec.honours)}")
    print("\nall fields: `minigan train --help`")
    return 0
