"""Port choice without races between outlive callers.

Checking that a port is free and handing it to a child is a race: two callers
can both see the same free port. A reservation file created with ``O_EXCL`` in
``$OUTLIVE_HOME/ports`` makes the claim atomic among outlive processes; it
names its owner so the same service gets its port back on restart, and a
reservation whose port is unbound after :data:`RESERVATION_TTL` is reclaimed.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from plugin_core.errors import ConfigError, PortInUseError
from plugin_core.paths import outlive_home, private_dir

RESERVATION_TTL = 60.0
_ATTEMPTS = 64


def reserve_port(owner: str, *, host: str, preferred: int | None, allocate: bool) -> int:
    """Return a port for ``owner`` on ``host``: ``preferred`` if free, else a free one if ``allocate``."""
    check_local_address(host)
    if preferred is not None:
        if _claim(owner, host, preferred):
            return preferred
        if not allocate:
            raise PortInUseError(preferred, host)
    for _ in range(_ATTEMPTS):
        candidate = _ephemeral_port(host)
        if _claim(owner, host, candidate):
            return candidate
    raise PortInUseError(preferred or 0, host)


def check_local_address(host: str) -> None:
    """ConfigError unless a server on this machine can listen on ``host`` (any port)."""
    import socket  # on first use: a service class's import should not pay for it

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
    except socket.gaierror as exc:
        raise ConfigError(
            f"ip_address {host!r} does not resolve ({exc.strerror}): give an IP address of this "
            "machine, such as '127.0.0.1' or '0.0.0.0'."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"ip_address {host!r} is not an address of this machine ({exc.strerror}): a local "
            "service listens on this machine; use '127.0.0.1', '0.0.0.0' or one of its own addresses."
        ) from None


def release_ports(owner: str) -> None:
    """Drop every reservation held by ``owner`` (called when its service stops)."""
    for entry in _reservations_dir().iterdir():
        if _read_owner(entry) == owner:
            entry.unlink(missing_ok=True)


def is_port_free(host: str, port: int) -> bool:
    """True when a server could bind ``host:port`` now (with SO_REUSEADDR, as servers do)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _claim(owner: str, host: str, port: int) -> bool:
    path = _reservations_dir() / str(port)
    holder = _read_owner(path)
    if holder == owner:
        return is_port_free(host, port)
    if holder is not None and not _stale(path, host, port):
        return False
    if holder is not None:
        path.unlink(missing_ok=True)
    if not is_port_free(host, port):
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    with os.fdopen(fd, "w") as handle:
        handle.write(owner)
    return True


def _stale(path: Path, host: str, port: int) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return age > RESERVATION_TTL and is_port_free(host, port)


def _read_owner(path: Path) -> str | None:
    try:
        return path.read_text() or None
    except (FileNotFoundError, IsADirectoryError):
        return None


def _ephemeral_port(host: str) -> int:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def _reservations_dir() -> Path:
    return private_dir(outlive_home() / "ports")
