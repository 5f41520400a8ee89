import os
import shutil
from pathlib import Path

import pytest

from minigan import netguard

REPO = Path(__file__).resolve().parents[1]


def mnist_folder() -> Path:
    """The one place tests find MNIST: $MINIGAN_TEST_DATA, else ../shared/data/mnist."""
    return Path(os.environ.get("MINIGAN_TEST_DATA") or REPO.parent / "shared" / "data" / "mnist")


_mnist_dir = mnist_folder


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    folder = _mnist_dir()
    if not any((folder / f"train-images-idx3-ubyte{ext}").exists() for ext in ("", ".gz")):
        pytest.skip(f"MNIST not found in {folder}; set MINIGAN_TEST_DATA")
    return folder


def _fashion_dir() -> Path:
    """$MINIGAN_TEST_FASHION, else the folder `fashion-mnist` beside the MNIST folder."""
    return Path(os.environ.get("MINIGAN_TEST_FASHION") or _mnist_dir().parent / "fashion-mnist")


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    folder = _fashion_dir()
    if not any((folder / f"t10k-images-idx3-ubyte{ext}").exists() for ext in ("", ".gz")):
        pytest.skip(f"Fashion-MNIST not found in {folder}; set MINIGAN_TEST_FASHION")
    return folder


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the real-data-floor cache of the tests out of the user's ~/.cache."""
    previous = os.environ.get("MINIGAN_CACHE_DIR")
    os.environ["MINIGAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("MINIGAN_CACHE_DIR", None)
    else:
        os.environ["MINIGAN_CACHE_DIR"] = previous


# The network guard: this process now, and every process the suite starts (minigan reads the variable
# at import). Set at collection, before any test or fixture starts a subprocess.
os.environ[netguard.ENV_VAR] = "1"
netguard.install()


@pytest.fixture(autouse=True)
def _no_network():
    """Fail the test that tried a non-loopback host, even where its code swallowed the error."""
    before = len(netguard.refused)
    yield
    tried = netguard.refused[before:]
    if tried:
        pytest.fail(f"the test tried the network: {'; '.join(tried)}", pytrace=False)


@pytest.fixture(scope="session")
def trained_run(mnist_dir, tmp_path_factory) -> Path:
    """A 6-step minimal run with checkpoints, logs and pictures; tests change only copies of it."""
    from minigan.presets import get_config
    from minigan.training import Trainer

    out = tmp_path_factory.mktemp("trained") / "run"
    config = get_config("minimal", data_dir=str(mnist_dir), steps=6, log_every=2, checkpoint_every=2,
                        sample_every=4, grid_size=4, tensorboard=False, device="cpu")
    Trainer(config, out, progress=False).fit()
    return out


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))
