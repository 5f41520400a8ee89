"""The suite's promise "nothing touches the network" is checked: a test or a command it starts that tries
a real host fails loudly, and loopback (the download tests' local HTTP server, torchrun) still works."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from minigan import netguard

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
REAL_HOST = ("93.184.216.34", 80)  # example.com


@pytest.fixture
def forget_refusals():
    """The refusals these tests provoke on purpose must not fail them through conftest's check."""
    before = len(netguard.refused)
    yield
    del netguard.refused[before:]


def test_a_real_host_is_refused_in_process(forget_refusals):
    with pytest.raises(netguard.NetworkGuardError, match="connect to 93.184.216.34:80 is not this machine"):
        socket.create_connection(REAL_HOST, timeout=5)
    with pytest.raises(netguard.NetworkGuardError, match="name lookup of example.com"):
        socket.getaddrinfo("example.com", 80)
    with socket.socket() as s, pytest.raises(netguard.NetworkGuardError):
        s.connect_ex(REAL_HOST)
    assert not isinstance(netguard.NetworkGuardError("x"), OSError)  # no `except OSError` hides it


def test_binding_any_address_is_not_refused(forget_refusals):
    """A server asked to listen on another address (here TEST-NET-1, which this machine lacks) gets the
    system's own error, not the guard's: binding is not network access."""
    before = len(netguard.refused)
    with socket.socket() as s, pytest.raises(OSError) as excinfo:
        s.bind(socket.getaddrinfo("192.0.2.1", 0, socket.AF_INET, socket.SOCK_STREAM)[0][4])
    assert not isinstance(excinfo.value, netguard.NetworkGuardError) and len(netguard.refused) == before


def test_loopback_still_connects():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, server.getsockname()[1]), timeout=5):
                server.accept()[0].close()


@pytest.mark.parametrize("code, words", [
    (f"import socket; socket.create_connection({REAL_HOST!r}, timeout=5)", "connect to 93.184.216.34:80"),
    ("import socket; socket.getaddrinfo('example.com', 80)", "name lookup of example.com"),
])
def test_a_real_host_is_refused_in_a_subprocess(code, words):
    assert os.environ[netguard.ENV_VAR] == "1"  # set by conftest for every process the suite starts
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", "import minigan; " + code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert f"NetworkGuardError: network access refused: {words}" in done.stderr


def test_a_cli_download_in_a_subprocess_fails_loudly(tmp_path):
    """The CLI with no data folder would download MNIST: under the guard that is a traceback naming it,
    not the quiet one-line offline error a user without a network gets."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HOME": str(tmp_path),
           "MINIGAN_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("MINIGAN_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-m", "minigan", "train", "--preset", "minimal", "--steps", "1",
                           "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode != 0
    assert "NetworkGuardError: network access refused" in done.stderr


def test_a_test_that_swallows_the_refusal_still_fails(pytester):
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_sneaky=f"""
        import socket

        def test_sneaky():
            try:
                socket.create_connection({REAL_HOST!r}, timeout=5)
            except Exception:
                pass
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)  # failed in the guard's teardown
    result.stdout.fnmatch_lines(["*the test tried the network: connect to 93.184.216.34:80*"])
