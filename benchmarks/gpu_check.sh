#!/usr/bin/env bash
# The first GPU run's checks in one command, from the repository root of a CUDA machine (torch
# installed, no internet needed): every preset, bf16 and compile, resumes, sample, eval, 2 processes,
# host syncs; one table at the end, exit status 1 if any check failed (benchmarks/gpu_check.py).
#
#   bash benchmarks/gpu_check.sh                 # CUDA; MNIST from $MINIGAN_DATA_DIR or ../shared/data/mnist
#   bash benchmarks/gpu_check.sh --cpu-dry-run   # the CPU-checkable parts on the CPU, in about a minute
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export MINIGAN_DATA_DIR="${MINIGAN_DATA_DIR:-$PWD/../shared/data/mnist}"
if [ ! -e "$MINIGAN_DATA_DIR/train-images-idx3-ubyte" ] && [ ! -e "$MINIGAN_DATA_DIR/train-images-idx3-ubyte.gz" ]; then
    echo "gpu_check: no MNIST in $MINIGAN_DATA_DIR; set MINIGAN_DATA_DIR to a folder holding it" >&2
    exit 2
fi
PYTHON="${PYTHON:-python}"
if ! missing=$("$PYTHON" -c 'import importlib.util as u
print(" ".join(m for m in ("torch", "numpy", "PIL", "tqdm", "matplotlib", "safetensors") if not u.find_spec(m)))') \
        || [ -n "$missing" ]; then
    echo "gpu_check: missing Python packages: ${missing:-?}; install minigan's dependencies (pip install -e .)" >&2
    exit 2
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
