"""A real PostgreSQL server from Debian's ``postgresql`` package, started for the tests.

The server runs as the ``postgres`` system user when the tests run as root (PostgreSQL
refuses root), on a free loopback port, with its data in a temporary directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found (install Debian's `postgresql` package; "
            "scripts/test.sh does this when run as root)"
        )
    return Path(candidates[0]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class PostgresServer:
    """Start with :meth:`start`, get :attr:`url`, end with :meth:`stop`."""

    def __init__(self, base: Path) -> None:
        self.bin = _bin_dir()
        self.base = base
        self.data = base / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://outlive@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        subprocess.run(
            _as_server_user([str(self.bin / "initdb"), "-D", str(self.data), "-U", "outlive", "-A", "trust"]),
            check=True, capture_output=True,
        )
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                             "-l", str(self.base / "server.log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not listen on {self.port}: {(self.base / 'server.log').read_text()}")

    def restart(self) -> None:
        """Start the server again on the same data directory and port (after :meth:`stop`)."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                             "-l", str(self.base / "server.log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True,
        )

    def stop_command(self) -> list[str]:
        """The argv that kills the server at once (``pg_ctl stop -m immediate``), for tests
        that take the registry away at a chosen moment."""
        return _as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])

    def stop(self) -> None:
        subprocess.run(
            _as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
