"""The argument parser: every subcommand, its flags and help; config flags come from TrainConfig."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import config_fields, field_choices, field_help, field_sections, flag
from ..data.datasets import DATASET_NAMES
from ..experiments import commands as experiments
from ..presets import preset_names
from ..sampling.choices import CLOCK_NOISE, GRID_NOISE
from ..visual import MAX_GIF_FPS

EXAMPLES = {
    "train": """examples:
  minigan train --preset mlp4 --data-dir ../shared/data/mnist --time-budget 300 --out runs/mlp4
  minigan train --preset minimal --z-dim 2 --steps 20000 --out runs/minimal-2d
  minigan train --preset mlp4 --literal --epochs 1         # the seed's Adam 2e-3, as written
  minigan train --preset dcgan --conditional --dry-run      # print the resolved config
  torchrun --nproc-per-node 2 -m minigan train --preset fast --steps 5000 --out runs/fast2   # 2 processes
  torchrun --nproc-per-node 8 -m minigan train --preset fast --device cuda --precision bf16 --compile""",
    "resume": """examples:
  minigan resume runs/mlp4
  minigan resume runs/mlp4 --time-budget 600               # raise the run's total budget
  torchrun --nproc-per-node 4 -m minigan resume runs/mlp4   # on any number of processes""",
    "sample": """examples:
  minigan sample runs/mlp4 --num 10000 --out samples.npz --grid grid.png   # grid: the first 100
  minigan sample runs/cgan --digit 7 --num 64 --grid sevens.png
  minigan sample runs/cgan --labels 2,0,2,6 --grid year.png
  minigan sample runs/cgan --class-grid numbers.png --class-grid-noise per-image   # cgan's write-up""",
    "eval": """examples:
  minigan eval runs/mlp4 --num 10000
  minigan eval samples.npz --json""",
    "interpolate": """examples:
  minigan interpolate runs/cgan --from 7 --to 9 --steps 10 --out 7to9.png
  minigan interpolate runs/mlp4 --from 1 --to 2 --method slerp --out seeds.png   # seeds
  minigan interpolate runs/cgan --from 7 --to 9 --rows 10 --noise-scale 0.5 --out 7to9.png  # write-up""",
    "clock": """examples:
  minigan clock runs/cgan --out clock.gif
  minigan clock runs/cgan --time 12:59 --out face.gif --fps 20
  minigan clock runs/cgan --noise zero --fps 60 --out clock.mp4     # cgan's write-up (minigan[video])""",
    "amplitude": """examples:
  minigan amplitude runs/cgan --digit 4 --out four.png
  minigan amplitude runs/cgan --digit 4 --low 0 --high 2.25 --count 10 --rows 10 --out 4s.png""",
    "weights": """examples:
  minigan weights runs/cgan                      # the newest checkpoint's table
  minigan weights runs/cgan/checkpoints/step-000001000.pt""",
    "data": """examples:
  minigan data --grid real.png --data-dir ../shared/data/mnist        # 10 of each digit
  minigan data --grid fashion.png --dataset fashion --num 50 --seed 1
  minigan data --grid mine.png --dataset idx --data-dir ~/my-idx-folder --split test""",
    "datasets": """examples:
  minigan datasets
  MINIGAN_DATA_DIR=~/data minigan datasets      # ~/data/mnist, ~/data/fashion-mnist, ...""",
    "serve": """examples:
  minigan serve runs/fast-cond runs/mlp4                  # then open http://127.0.0.1:8000/
  minigan serve runs --port 8080                          # every run folder under runs/
  (needs the extra: pip install 'minigan[serve]')""",
    "classifier": """examples:
  minigan classifier train --dataset fashion --out fashion.safetensors
  minigan classifier train --data-dir ~/my-idx-folder --out mine.safetensors
  minigan eval runs/mine --classifier mine.safetensors""",
}
_DATASET_HELP = f"one of: {', '.join(DATASET_NAMES)}"


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One group per section of TrainConfig, the write-ups' peculiarities last, apart."""
    helps, sections = field_help(), field_sections()
    order = sorted(config_fields(), key=lambda f: sections[f.name] == "write-up fidelity")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in order:
        section = sections[f.name]
        if section not in groups:
            title = (f"{section} (what --literal sets; docs/fidelity.md)" if section == "write-up fidelity"
                     else f"{section} (default: the preset's value)")
            groups[section] = parser.add_argument_group(title)
        group, text = groups[section], helps[f.name]
        if f.type in (bool, "bool"):
            group.add_argument(flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=None, help=text)
        elif choices := field_choices(f.name):
            group.add_argument(flag(f.name), dest=f.name, default=None, choices=choices, help=text)
        else:
            group.add_argument(flag(f.name), dest=f.name, default=None, help=text,
                               metavar=f.name.split("_")[-1].upper())


def overrides(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f.name) for f in config_fields() if getattr(args, f.name, None) is not None}


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line like every other error (subcommands inherit it)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("minigan").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"minigan: error: {where}{message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    p.add_argument("--restart", action="store_true", help="with --resume: start a run with no checkpoint "
                   "over from step 0, replacing its generator and logs")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _config_flags(p)

    p = command("resume", "continue a run from its newest intact checkpoint")
    p.add_argument("run", type=Path, help="the run folder to continue")
    p.add_argument("--force", action="store_true", help="accept settings that differ from the run's")
    p.add_argument("--restart", action="store_true", help="a run with no checkpoint left: start it over "
                   "from step 0, replacing its generator and logs (refused without this flag)")
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
    p.add_argument("--class-grid-noise", choices=GRID_NOISE, default=None,
                   help="per-row: a row's digits share one noise (one style per row); per-image: every "
                   "digit its own, as cgan's write-up draws it (default: per-image for a --literal cgan run, "
                   "else per-row)")
    p.add_argument("--dataset", choices=DATASET_NAMES, metavar="NAME",
                   help=f"name the class-grid columns after this dataset's classes (default: the run's); "
                   f"{_DATASET_HELP}")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")

    p = command("eval", "score a run or a samples .npz against its dataset's test set")
    p.add_argument("source", type=Path, help="run folder or samples .npz")
    p.add_argument("--num", type=int, help="samples to score (default: 10000 from a run, all of an .npz)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the scored samples")
    p.add_argument("--data-dir", help="the dataset's folder (default: the run's, else $MINIGAN_DATA_DIR or "
                   "the cache)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", type=Path, help="metrics file (default: RUN/metrics.json or NPZ.metrics.json)")
    p.add_argument("--no-floor", action="store_true", help="skip the real-data floor column")
    p.add_argument("--dataset", choices=DATASET_NAMES, metavar="NAME",
                   help=f"dataset the images imitate (default: the run's config.json, else mnist); "
                   f"{_DATASET_HELP}")
    p.add_argument("--classifier", type=Path, metavar="FILE",
                   help="classifier weights from `minigan classifier train` (needed for --dataset idx)")
    p.add_argument("--inception", action="store_true",
                   help="add Inception-FID (extra `inception`; ~36 min per 10k images on one CPU thread)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads (0 = PyTorch's default); use 1 beside a training run")

    run_help = "run folder, generator .safetensors or checkpoint .pt"
    p = command("interpolate", "a strip between two digits (conditional) or two seeds")
    p.add_argument("run", type=Path, help=run_help)
    p.add_argument("--from", dest="start", type=int, required=True, help="first digit (or seed)")
    p.add_argument("--to", dest="end", type=int, required=True, help="last digit (or seed)")
    p.add_argument("--steps", type=int, default=10, help="pictures per strip (default 10)")
    p.add_argument("--rows", type=int, default=1, help="strips, each from its own noise (default 1)")
    p.add_argument("--method", choices=("linear", "slerp"), default="linear", help="interpolation path")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--noise-scale", type=float, metavar="X",
                   help="multiply the noise by X (default 1; cgan's write-up halves it: 0.5, the default "
                   "for a --literal cgan run)")
    p.add_argument("--out", type=Path, default=Path("interpolation.png"), help="PNG to write")

    p = command("clock", "the digit clock: 0..9 cross-fading in label space, as GIF or MP4")
    p.add_argument("run", type=Path, help=run_help)
    p.add_argument("--out", type=Path, default=Path("clock.gif"), help=".gif or .mp4 (needs minigan[video])")
    p.add_argument("--fps", type=float,
                   help="frames per second (default 30; a --literal cgan run: the write-up's 60 in an .mp4, "
                   f"{MAX_GIF_FPS:g} in a GIF, whose whole-centisecond delays play at most {MAX_GIF_FPS:g})")
    p.add_argument("--noise", choices=CLOCK_NOISE,
                   help="zero: every digit from z = 0, as cgan's write-up; random: one noise from --seed "
                   "(default: zero for a --literal cgan run, else random)")
    p.add_argument("--frames-per-digit", type=int, default=60, help="frames of each cross-fade (default 60)")
    p.add_argument("--time", dest="time_hhmm", metavar="HH:MM", help="a four-digit clock face")
    p.add_argument("--seed", type=int, default=0, help="noise seed (with --noise random)")
    p.add_argument("--scale", type=int, default=4, help="pixel upscaling of each frame (default 4)")

    p = command("amplitude", "sweep one label's strength from 0 to above 1")
    p.add_argument("run", type=Path, help=run_help)
    p.add_argument("--digit", type=int, required=True, help="the label to sweep")
    p.add_argument("--rows", type=int, default=5, help="rows, each from its own noise (default 5)")
    p.add_argument("--low", type=float, help="first label strength (default 0)")
    p.add_argument("--high", type=float,
                   help="last label strength (default 1.5; a --literal cgan run: the write-up's 2.25)")
    p.add_argument("--count", type=int,
                   help="strengths from --low to --high, evenly spaced (default 11; a --literal cgan run: "
                   "the write-up's 10, n/4 for n in 0..9)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--out", type=Path, default=Path("amplitude.png"), help="PNG to write")

    p = command("weights", "the largest absolute value of every weight tensor of G and D in a checkpoint")
    p.add_argument("run", type=Path, help="run folder (its newest intact checkpoint) or checkpoint .pt")

    p = command("data", "draw images of a dataset itself: a PNG grid, one column per class when labelled")
    p.add_argument("--grid", type=Path, required=True, help="PNG to write")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="mnist", metavar="NAME",
                   help=f"default mnist; {_DATASET_HELP}")
    p.add_argument("--data-dir", help="the dataset's folder (default: $MINIGAN_DATA_DIR, else the cache)")
    p.add_argument("--split", choices=("train", "test"), default="train", help="which split (default train)")
    p.add_argument("--num", type=int, default=100,
                   help="images to draw (default 100); by class: rounded down to whole rows, at least one")
    p.add_argument("--seed", type=int, default=0, help="which images: the same seed picks the same ones")
    p.add_argument("--scale", type=int, default=1, help="pixel upscaling (default 1)")

    p = command("serve", "the playground: a local web page to sample, explore and watch runs train")
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                   help="run folders, folders holding runs, or generator .safetensors files")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; others warn)")
    p.add_argument("--device", default="cpu", help="where the generators run: cpu (default), cuda, auto")

    experiments.add_commands(command, _config_flags)  # sweep, compare

    p = command("presets", "list the presets and how each differs from its seed recipe")
    p.add_argument("--fidelity", nargs="*", metavar="PRESET", choices=preset_names(),
                   help="print the fidelity table instead: every setting of the write-ups (or of the "
                   "PRESETs named), literal value, default value and why they differ")
    command("datasets", "list the named datasets: sizes, classes, licence and cache state")

    p = command("classifier", "the feature classifier behind the metrics of a dataset")
    csub = p.add_subparsers(dest="classifier_command", required=True, metavar="ACTION",
                            help="train: fit a classifier on a dataset for its metrics")
    p = csub.add_parser("train", help="train a classifier for a dataset or a labelled IDX folder",
                        description="train a classifier for a dataset or a labelled IDX folder "
                        "(deterministic, CPU)",
                        epilog=EXAMPLES["classifier"], formatter_class=argparse.RawDescriptionHelpFormatter)
    from ..metrics.classifier_cli import add_arguments

    add_arguments(p)
    return parser
