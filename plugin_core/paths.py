"""Where outlive keeps its files: one private directory per user, ``$OUTLIVE_HOME``."""

from __future__ import annotations

import os
from pathlib import Path


def outlive_home() -> Path:
    """``$OUTLIVE_HOME``, else ``$XDG_DATA_HOME/outlive``, else ``~/.local/share/outlive`` (mode 0700)."""
    configured = os.environ.get("OUTLIVE_HOME")
    if configured:
        home = Path(configured).expanduser()
    else:
        data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        home = Path(data) / "outlive"
    return private_dir(home)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the owner only, and return it.

    Raises ConfigError (naming the path and the fix) when it cannot be a directory: a
    regular file in the way (``OUTLIVE_HOME`` pointing at one), no permission..."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError as exc:
        from plugin_core.errors import ConfigError

        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise ConfigError(
            f"Cannot use {path} as a directory for outlive's files: {exc.strerror or exc}{where}. "
            "Fix: point OUTLIVE_HOME at a directory you can write (or remove what is in the way)."
        ) from None
    return path


def services_root() -> Path:
    """Parent of the per-service runtime directories."""
    return private_dir(outlive_home() / "services")


def write_private(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` atomically (temporary file, fsync, rename) with mode 0600.

    ``durable=False`` skips the fsync: for runtime files that only matter while the service's
    processes live (a power loss ends those too), where it costs ~1 ms per start each."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_small_file(path: str) -> bytes | None:
    """The whole content of a small file (a ``/proc`` stat line, a supervisor's record), or
    None when it cannot be read.

    Three system calls (open, read, close; a second read only for a file longer than 64 KiB),
    where ``open()`` adds a stat, a terminal check and a seek: a status query of hundreds of
    services reads three such files per service from its worker threads, and every system
    call hands the interpreter lock to another thread and back."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = [os.read(fd, 65536)]
        while len(chunks[-1]) == 65536:
            chunks.append(os.read(fd, 65536))
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks) if len(chunks) > 1 else chunks[0]
