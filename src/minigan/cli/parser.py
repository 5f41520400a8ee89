"""The argument parser: every subcommand, its flags and help; config flags come from TrainConfig."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import config_fields, field_choices, field_help, field_sections, flag
from ..data.datasets import DATASET_NAMES
from ..experiments import commands as experiments
from ..presets import preset_names

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
