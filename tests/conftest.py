import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _mnist_dir() -> Path:
    return Path(os.environ.get("MINIGAN_TEST_DATA", REPO.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    folder = _mnist_dir()
    if not any((folder / f"train-images-idx3-ubyte{ext}").exists() for ext in ("", ".gz")):
        pytest.skip(f"MNIST not found in {folder}; set MINIGAN_TEST_DATA")
    return folder
