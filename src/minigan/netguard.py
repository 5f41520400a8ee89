"""A guard that refuses every connection to a host other than this machine.

The test suite promises that nothing touches the network. `tests/conftest.py` installs this guard in
its own process and sets MINIGAN_NETWORK_GUARD=1, which `minigan/__init__.py` reads, so every
subprocess the suite starts (the CLI, torchrun workers, sweep workers, benchmarks) is guarded too.
A refused attempt raises `NetworkGuardError`, a RuntimeError: no downloader's `except OSError` turns
it into a quiet "offline" message.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

ENV_VAR = "MINIGAN_NETWORK_GUARD"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}

refused: list[str] = []  # every refused attempt in this process, for a test to report
_original: dict[str, Any] = {}


class NetworkGuardError(RuntimeError):
    """A connection to a non-loopback host while the guard was on."""


def _is_local_ip(host: str) -> bool | None:
    """True/False for an IP literal (loopback or unspecified is local), None for a host name."""
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    return ip.is_loopback or ip.is_unspecified


def _local_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(".localhost") or name == socket.gethostname().lower()


def _refuse(what: str) -> None:
    refused.append(what)
    raise NetworkGuardError(f"network access refused: {what} is not this machine "
                            f"({ENV_VAR}=1: the test suite must not touch the network)")


def _check_address(family: int, address: Any) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return  # unix sockets, netlink, ...
    host = str(address[0])
    local = _is_local_ip(host)
    if local is False or (local is None and not _local_name(host)):
        _refuse(f"connect to {host}:{address[1]}")


def _connect(self: socket.socket, address: Any) -> None:
    _check_address(self.family, address)
    return _original["connect"](self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self.family, address)
    return _original["connect_ex"](self, address)


def _getaddrinfo(host: Any, port: Any = None, *args: Any, **kwargs: Any) -> list:
    """Refuse looking up a host name that is not this machine (a DNS query); an IP literal needs no
    lookup (binding one is not network access), so only connect() judges it."""
    if host is not None:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if _is_local_ip(name) is None and not _local_name(name):
            _refuse(f"name lookup of {name}")
    return _original["getaddrinfo"](host, port, *args, **kwargs)


def install() -> None:
    """Guard this process (idempotent)."""
    if _original:
        return
    _original.update(connect=socket.socket.connect, connect_ex=socket.socket.connect_ex,
                     getaddrinfo=socket.getaddrinfo)
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo


def installed() -> bool:
    return bool(_original)


__all__ = ["ENV_VAR", "NetworkGuardError", "install", "installed", "refused"]
