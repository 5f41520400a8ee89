"""Flags and entry point of `minigan classifier train` (no torch at import: the CLI builds its
parser from here on every call)."""

from __future__ import annotations

import argparse

from minigan.data.datasets import DATASET_NAMES
from minigan.errors import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="idx", choices=DATASET_NAMES, metavar="NAME",
                        help="a named dataset, or idx (default) for the labelled IDX folder in --data-dir; "
                        f"one of: {', '.join(DATASET_NAMES)}")
    parser.add_argument("--data-dir", help="folder with the IDX files (default: the dataset's cache folder)")
    parser.add_argument("--out", required=True, help="where to write the .safetensors weights")
    parser.add_argument("--seed", type=int, default=0, help="seed of the init, data order and augmentation")
    parser.add_argument("--epochs", type=int, default=5, help="passes over the training split (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: reproducible bit for bit)")


def run(args: argparse.Namespace) -> dict[str, float | str]:
    """Train as the flags say and print accuracy, class count, fingerprint and time."""
    from minigan.metrics.classifier_training import train_classifier

    if args.dataset == "idx" and not args.data_dir:
        raise DataError("--dataset idx trains on a folder you name: pass --data-dir DIR")
    result = train_classifier(args.data_dir, args.out, seed=args.seed, epochs=args.epochs,
                              threads=args.threads, verbose=True, dataset=args.dataset)
    print(f"test accuracy {result['test_accuracy']:.4f}  classes {result['num_classes']}  fingerprint "
          f"{str(result['fingerprint'])[:16]}  {result['seconds']:.0f} s -> {args.out}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m minigan.metrics.classifier_cli",
        description="Train minigan's feature classifier for a dataset (deterministic, CPU).",
        epilog="example: python -m minigan.metrics.classifier_cli --dataset fashion "
        "--data-dir shared/data/fashion-mnist --out src/minigan/metrics/fashion_classifier.safetensors",
    )
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
