"""A service's runtime directory: where a backend keeps the files of one service.

Every backend that keeps files uses this one layout, so prune and delete can clean up without
knowing the backend: one directory per service uuid under ``$OUTLIVE_HOME/services`` (or the
config's ``root_runtime_path``), or that root itself for a ``singleton``; the service's
definition in ``service.json`` (its ``type`` tells prune whom to ask about leftovers); the
rest is the backend's own. Directories are 0700 and files 0600, written atomically.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from plugin_core.service import BaseService

DEFINITION_FILE = "service.json"
# A supervised service's supervisor records its processes and exit in SUPERVISOR_STATE_FILE and
# takes a stop requested in STOP_REQUEST_FILE (plugin_core.observation reads both).
SUPERVISOR_STATE_FILE = "state.json"
STOP_REQUEST_FILE = "stop.request"


class RuntimeFiles(NamedTuple):
    """One service's runtime directory; ``shared`` when it is a singleton's root, which other
    services may use too and which is never removed.

    A NamedTuple rather than a frozen dataclass: this module loads with every service class,
    and defining a frozen dataclass costs ~0.4 ms (its generated methods are compiled)."""

    path: Path
    shared: bool = False

    @classmethod
    def prepare(cls, uuid: str, root: str | None = None, singleton: bool = False) -> RuntimeFiles:
        """Create (0700) and return the directory for service ``uuid``."""
        from plugin_core.paths import private_dir, services_root

        base = Path(root) if root else services_root()
        return cls(private_dir(base if singleton else base / uuid), shared=singleton)

    @classmethod
    def recorded(cls, path: str | None, singleton: bool = False) -> RuntimeFiles | None:
        """The directory a status recorded (None: it never had one)."""
        return cls(Path(path), shared=singleton) if path else None

    @property
    def definition_file(self) -> Path:
        """The service's JSON as its processes load it back (and prune reads its ``type``)."""
        return self.path / DEFINITION_FILE

    def write_definition(self, service: BaseService, *, durable: bool = True) -> None:
        """Save ``service`` as JSON (secrets excluded, as from every serialisation)."""
        from plugin_core.paths import write_private

        write_private(self.definition_file, service.to_json(), durable=durable)

    def discard(self) -> None:
        """Remove the directory, unless it is shared."""
        if not self.shared:
            import shutil  # here: a service class's import should not pay for it

            shutil.rmtree(self.path, ignore_errors=True)


def definition_type(directory: Path) -> str | None:
    """The ``type`` of the service whose definition ``directory`` holds, if it can be read."""
    import json

    try:
        data = json.loads((directory / DEFINITION_FILE).read_text())
    except (OSError, ValueError):
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) and kind else None


def saved_log_lines(path: Path | None, tail: int | None = None) -> Iterator[str]:
    """Lines of a log file kept on disk (all, or the last ``tail``); none when it is absent."""
    if path is None or not path.exists():
        return iter(())
    if tail is None:
        return iter(path.read_text(errors="replace").splitlines())
    from plugin_core.logs import tail_lines  # here: only reading a log needs it

    return iter(tail_lines(path, tail))
