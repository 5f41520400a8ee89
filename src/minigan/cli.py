"""`minigan` command line: parse, validate, call the Python API, print. Nothing else lives here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import config_fields, field_choices, field_help, flag
from .errors import MiniganError
from .experiments import commands as experiments
from .presets import PRESETS, get_config, preset_names

EXAMPLES = {
    "train": """examples:
  minigan train --preset mlp4 --data-dir ../shared/data/mnist --time-budget 300 --out runs/mlp4
  minigan train --preset minimal --z-dim 2 --steps 20000 --out runs/minimal-2d
  minigan train --preset mlp4 --literal --epochs 1         # the seed's Adam 2e-3, as written
  minigan train --preset dcgan --conditional --dry-run      # print the resolved config""",
    "resume": """examples:
  minigan resume runs/mlp4
  minigan resume runs/mlp4 --time-budget 600               # raise the run's total budget""",
    "sample": """examples:
  minigan sample runs/mlp4 --num 10000 --out samples.npz --grid grid.png   # grid: the first 100
  minigan sample runs/cgan --digit 7 --num 64 --grid sevens.png
  minigan sample runs/cgan --labels 2,0,2,6 --grid year.png""",
    "eval": """examples:
  minigan eval runs/mlp4 --num 10000
  minigan eval samples.npz --json""",
    "interpolate": """examples:
  minigan interpolate runs/cgan --from 7 --to 9 --steps 10 --out 7to9.png
  minigan interpolate runs/mlp4 --from 1 --to 2 --method slerp --out seeds.png   # seeds""",
    "clock": """examples:
  minigan clock runs/cgan --out clock.gif
  minigan clock runs/cgan --time 12:59 --out face.gif --fps 20""",
    "amplitude": """examples:
  minigan amplitude runs/cgan --digit 4 --out four.png""",
}


def _config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("config overrides (default: the preset's value)")
    helps = field_help()
    for f in config_fields():
        text = helps[f.name]
        if f.type in (bool, "bool"):
            group.add_argument(flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=text)
        elif choices := field_choices(f.name):
            group.add_argument(flag(f.name), dest=f.name, default=None, choices=choices, help=text)
        else:
            group.add_argument(flag(f.name), dest=f.name, default=None, help=text,
                               metavar=f.name.split("_")[-1].upper())


def _overrides(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in config_fields() if getattr(args, f.name, None) is not None}


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line like every other error (subcommands inherit it)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("minigan").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"minigan: error: {where}{message}; see `{self.prog} --help`\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="minigan", description="Train, sample, evaluate and play with GANs on MNIST-format images.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(EXAMPLES[k] for k in ("train", "sample", "eval")),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES.get(name),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("train", "train a preset into a run folder")
    p.add_argument("--preset", help=f"one of: {', '.join(preset_names())} (default mlp4)")
    p.add_argument("--out", type=Path, help="run folder (default runs/NNNNN-<preset>)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue RUN instead (= minigan resume)")
    p.add_argument("--literal", action="store_true", help="the seed recipe's values exactly as written")
    p.add_argument("--force", action="store_true", help="with --resume: accept changed settings")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _config_flags(p)

    p = command("resume", "continue a run from its newest intact checkpoint")
    p.add_argument("run", type=Path, help="the run folder to continue")
    p.add_argument("--force", action="store_true", help="accept settings that differ from the run's")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _config_flags(p)

    p = command("sample", "draw samples from a trained run into an .npz and/or a PNG grid")
    p.add_argument("run", type=Path, help="run folder, generator .safetensors or checkpoint .pt")
    p.add_argument("--num", type=int, default=100, help="samples to draw (default 100)")
    p.add_argument("--seed", type=int, default=0, help="noise seed: the same seed gives the same samples")
    p.add_argument("--out", type=Path, help=".npz with images uint8 (N,28,28) [+ labels]")
    p.add_argument("--grid", type=Path, help="PNG grid of the first --grid-size x --grid-size samples")
    p.add_argument("--grid-size", type=int, default=10, help="the grid's side in samples (default 10)")
    p.add_argument("--digit", type=int, help="conditional runs: this digit only")
    p.add_argument("--labels", help="conditional runs: comma-separated digits, one per sample")
    p.add_argument("--class-grid", type=Path, help="conditional runs: PNG with one column per digit")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")

    p = command("eval", "score a run or a samples .npz against the MNIST test set")
    p.add_argument("source", type=Path, help="run folder or samples .npz")
    p.add_argument("--num", type=int, help="samples to score (default: 10000 from a run, all of an .npz)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the scored samples")
    p.add_argument("--data-dir", help="MNIST folder (default $MINIGAN_DATA_DIR or the cache)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", type=Path, help="metrics file (default: RUN/metrics.json or NPZ.metrics.json)")
    p.add_argument("--no-floor", action="store_true", help="skip the real-data floor column")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")

    run_help = "run folder, generator .safetensors or checkpoint .pt"
    p = command("interpolate", "a strip between two digits (conditional) or two seeds")
    p.add_argument("run", type=Path, help=run_help)
    p.add_argument("--from", dest="start", type=int, required=True, help="first digit (or seed)")
    p.add_argument("--to", dest="end", type=int, required=True, help="last digit (or seed)")
    p.add_argument("--steps", type=int, default=10, help="pictures per strip (default 10)")
    p.add_argument("--rows", type=int, default=1, help="strips, each from its own noise (default 1)")
    p.add_argument("--method", choices=("linear", "slerp"), default="linear", help="interpolation path")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--out", type=Path, default=Path("interpolation.png"), help="PNG to write")

    p = command("clock", "the digit clock: 0..9 cross-fading in label space, as GIF or MP4")
    p.add_argument("run", type=Path, help=run_help)
    p.add_argument("--out", type=Path, default=Path("clock.gif"), help=".gif or .mp4 (needs minigan[video])")
    p.add_argument("--fps", type=float, default=30, help="frames per second (default 30)")
    p.add_argument("--frames-per-digit", type=int, default=60, help="frames of each cross-fade (default 60)")
    p.add_argument("--time", dest="time_hhmm", metavar="HH:MM", help="a four-digit clock face")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--scale", type=int, default=4, help="pixel upscaling of each frame (default 4)")

    p = command("amplitude", "sweep one label's strength from 0 to above 1")
    p.add_argument("run", type=Path, help=run_help)
    p.add_argument("--digit", type=int, required=True, help="the label to sweep")
    p.add_argument("--rows", type=int, default=5, help="rows, each from its own noise (default 5)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--out", type=Path, default=Path("amplitude.png"), help="PNG to write")

    experiments.add_commands(command, _config_flags)  # sweep, compare

    command("presets", "list the presets and how each differs from its seed recipe")
    return parser


def _cmd_train(args) -> int:
    from .run.folder import next_run_dir
    from .runtime import configure_process
    from .training import Trainer, resume

    if args.resume:  # a preset named here must be the run's own (check_resumable compares them)
        preset = {"preset": args.preset} if args.preset else {}
        result = resume(args.resume, force=args.force, progress=not args.quiet,
                        **_overrides(args), **preset)
    else:
        args.preset = args.preset or "mlp4"
        config = get_config(args.preset, literal=args.literal, **_overrides(args))
        if args.dry_run:
            print(config.to_json())
            return 0
        out = args.out or next_run_dir("runs", args.preset)
        configure_process(config.threads)
        result = Trainer(config, out, progress=not args.quiet).fit()
    return 130 if result.status == "interrupted" else 0


def _cmd_resume(args) -> int:
    from .training import resume

    result = resume(args.run, force=args.force, progress=not args.quiet, **_overrides(args))
    return 130 if result.status == "interrupted" else 0


def _cmd_sample(args) -> int:
    import numpy as np

    from . import visual
    from .sampling import explore, load_generator, save_samples

    if args.grid_size <= 0:
        raise MiniganError(f"--grid-size must be positive, got {args.grid_size}")
    gen = load_generator(args.run, args.device)
    labels = None
    if args.digit is not None:
        labels = np.full(args.num, args.digit)
    elif args.labels:
        try:
            labels = np.array([int(v) for v in args.labels.split(",")])
        except ValueError:
            raise MiniganError(f"--labels must be comma-separated digits, got {args.labels!r}") from None
        args.num = len(labels)
    if labels is not None and not gen.conditional:
        raise MiniganError("--digit/--labels need a conditional run (train with --conditional)")
    images, labels = gen.sample(args.num, args.seed, labels)
    if args.out is None and args.grid is None and args.class_grid is None:
        args.out = Path("samples.npz")
    if args.out:
        print(f"wrote {save_samples(args.out, images, labels)}: {len(images)} images")
    if args.grid:
        shown = images[:args.grid_size**2]
        print(f"wrote {visual.save_grid(shown, args.grid, nrow=args.grid_size)}: the first {len(shown)}")
    if args.class_grid:
        print(f"wrote {visual.save_grid(explore.class_grid(gen, seed=args.seed), args.class_grid, nrow=10)}")
    return 0


def _cmd_eval(args) -> int:
    import json

    from . import metrics
    from .runtime import resolve_device

    args.device = str(resolve_device(args.device))  # fail on a missing GPU before any work
    source = args.source
    if source.is_dir():
        results = metrics.evaluate_run(source, num=args.num or 10000, seed=args.seed, data_dir=args.data_dir,
                                       device=args.device)
        out = args.out or source / "metrics.json"
    else:
        results = metrics.evaluate_npz(source, num=args.num, data_dir=args.data_dir, device=args.device)
        out = args.out or source.with_suffix(".metrics.json")
    floor_num = min(results["num_images"], 10000)  # the floor uses as many real images as were scored
    floor = None if args.no_floor else metrics.real_floor(args.data_dir, num=floor_num, device=args.device)
    metrics.write_metrics_json(out, {"metrics": results, "real_floor": floor, "source": str(source)})
    if args.json:
        print(json.dumps({"metrics": results, "real_floor": floor}, indent=2))
    else:
        print(metrics.format_table(results, floor))
        print(f"wrote {out}")
    return 0


def _cmd_interpolate(args) -> int:
    from . import visual
    from .sampling import explore, load_generator

    gen = load_generator(args.run)
    images = explore.interpolate(gen, start=args.start, end=args.end, steps=args.steps,
                                 method=args.method, seed=args.seed, rows=args.rows)
    print(f"wrote {visual.save_grid(images, args.out, nrow=args.steps)}")
    return 0


def _cmd_clock(args) -> int:
    from .sampling import clock, load_generator

    gen = load_generator(args.run)
    path = clock.save_clock(gen, args.out, fps=args.fps, frames_per_digit=args.frames_per_digit,
                              seed=args.seed, time_hhmm=args.time_hhmm, scale=args.scale)
    print(f"wrote {path}")
    return 0


def _cmd_amplitude(args) -> int:
    from . import visual
    from .sampling import explore, load_generator

    gen = load_generator(args.run)
    images = explore.amplitude_sweep(gen, args.digit, rows=args.rows, seed=args.seed)
    print(f"wrote {visual.save_grid(images, args.out, nrow=len(images) // args.rows)}")
    return 0


def _cmd_sweep(args) -> int:
    return experiments.run_sweep(args, _overrides(args))


def _cmd_compare(args) -> int:
    return experiments.run_compare(args)


def _cmd_presets(args) -> int:
    from .models.registry import ARCHITECTURES, NETWORK_FIELDS

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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = globals()[f"_cmd_{args.command}"]
    try:
        return handler(args)
    except MiniganError as exc:
        print(f"minigan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minigan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
