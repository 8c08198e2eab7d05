"""The edge between :mod:`plugin_core.backends.ray_serve` and a Ray cluster: its dashboard's REST API.

The pipeline's environment reaches the cluster over HTTP only, so it needs neither ``ray`` nor
the cluster's Python version. Everything that talks to the dashboard lives here:

* Serve's declarative config, which is ONE document per cluster: :meth:`ServeApi.config`
  rebuilds it from ``GET /api/serve/applications/`` (each declarative app's
  ``deployed_app_config``, the cluster's ``proxy_location`` and ``http_options``) and
  :meth:`ServeApi.put_config` writes it back. Callers hold the registry's claim on the
  cluster around the read-modify-write, since Serve has no version check.
  ``DELETE /api/serve/applications/`` is never sent: it shuts all of Serve down.
* file packages (``working_dir``), uploaded under a content-hash name like Ray's job SDK does
  (``GET``/``PUT /api/packages/gcs/<name>``), so a changed directory is never served stale;
* log files through Ray's state API: read once (``/api/v0/logs/file``) or followed as they
  grow (``/api/v0/logs/stream``, a response that stays open: :class:`LogStream`).

:func:`cluster_errors` is the one translation point: httpx's errors and refusals become a
:class:`RayClusterError` naming the service, the action, the dashboard and the fix. httpx
(the ``ray`` extra) is imported lazily, so importing outlive stays cheap.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin_core.errors import BackendError

if TYPE_CHECKING:
    import httpx

APPLICATIONS = "/api/serve/applications/"
ADDRESS_ENV = ("RAY_DASHBOARD_ADDRESS", "RAY_ADDRESS")
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
LOG_STREAM_INTERVAL = 0.5  # seconds between the node agent's looks for new bytes in a file
_SKIPPED_DIRS = {"__pycache__", ".git", ".venv", ".mypy_cache", ".pytest_cache"}


class RayClusterError(BackendError):
    """The Ray cluster's dashboard is unreachable, or it refused a request."""


def default_address() -> str:
    """The dashboard as Ray's own CLIs find it: ``$RAY_DASHBOARD_ADDRESS`` (``serve deploy``),
    ``$RAY_ADDRESS`` when it is an HTTP URL (``ray job submit``), else the local default."""
    for name in ADDRESS_ENV:
        value = os.environ.get(name, "")
        if value.startswith(("http://", "https://")):
            return value.rstrip("/")
    return DEFAULT_ADDRESS


@contextmanager
def cluster_errors(service_name: str, action: str, address: str) -> Iterator[None]:
    """Turn transport errors and non-2xx answers into :class:`RayClusterError`."""
    import httpx

    prefix = f"Service {service_name!r}: cannot {action}"
    try:
        yield
    except httpx.HTTPStatusError as exc:
        body = exc.response.text.strip()[-2000:]
        hint = ""
        if exc.response.status_code == 404 and APPLICATIONS in str(exc.request.url):
            hint = " Is this a Ray dashboard? Serve's REST API needs 'ray[serve]' on the head."
        raise RayClusterError(
            f"{prefix}: the Ray dashboard at {address} answered "
            f"{exc.response.status_code}: {body}{hint}"
        ) from exc
    except httpx.HTTPError as exc:
        raise RayClusterError(
            f"{prefix}: the Ray dashboard at {address} does not answer ({type(exc).__name__}: "
            f"{exc}). Start the cluster (`ray start --head --dashboard-host ...`) or set "
            "`address` (or RAY_DASHBOARD_ADDRESS) to its dashboard URL, e.g. http://head:8265."
        ) from exc


class ServeApi:
    """Requests to one cluster's dashboard; every call raises only :class:`RayClusterError`."""

    def __init__(self, address: str, service_name: str, timeout: float = 10.0) -> None:
        self.address = address.rstrip("/")
        self.service_name = service_name
        self.timeout = timeout

    def _request(self, method: str, path: str, action: str, **kwargs: Any) -> Any:
        import httpx

        timeout = kwargs.pop("timeout", self.timeout)
        with cluster_errors(self.service_name, action, self.address):
            response = httpx.request(method, self.address + path, timeout=timeout, **kwargs)
            response.raise_for_status()
            return response

    # -- Serve ----------------------------------------------------------------------------------

    def status(self, timeout: float | None = None) -> dict[str, Any]:
        """Serve's whole status document (empty ``applications`` when Serve is not running)."""
        response = self._request(
            "GET", APPLICATIONS, "read Serve's status", timeout=timeout or self.timeout
        )
        document: dict[str, Any] = response.json()
        return document

    def config(self) -> dict[str, Any]:
        """The cluster's declarative config as it stands: what a PUT must send back to keep
        every other app. Imperative apps (``serve.run``) are not part of it; Serve keeps them."""
        status = self.status()
        apps = [
            app["deployed_app_config"]
            for app in (status.get("applications") or {}).values()
            if app.get("source") == "declarative" and app.get("deployed_app_config")
        ]
        config: dict[str, Any] = {"applications": apps}
        for key in ("proxy_location", "http_options"):
            if status.get(key):
                config[key] = status[key]
        return config

    def put_config(self, config: dict[str, Any]) -> None:
        """Replace the declarative config; Serve applies it in the background (200 even for an
        app that will fail: its status tells)."""
        self._request("PUT", APPLICATIONS, "update Serve's config", json=config, timeout=60.0)

    # -- packages and logs ----------------------------------------------------------------------

    def ensure_package(self, name: str, data: bytes) -> str:
        """Upload a zip under ``name`` unless the cluster has it; return its ``gcs://`` URI.
        The GET also pins the package for a while, so it survives until Serve references it."""
        import httpx

        path = f"/api/packages/gcs/{name}"
        with cluster_errors(self.service_name, "check the working_dir package", self.address):
            response = httpx.get(self.address + path, timeout=self.timeout)
            if response.status_code not in (200, 404):
                response.raise_for_status()
        if response.status_code == 404:
            self._request("PUT", path, "upload the working_dir package", content=data,
                          timeout=120.0)
        return f"gcs://{name}"

    def log_lines(self, node_id: str, filename: str, lines: int | None) -> list[str]:
        """The last ``lines`` lines (all: -1) of a log file on a node, by its path under the
        node's log directory."""
        params = {"node_id": node_id, "filename": filename.lstrip("/"),
                  "lines": str(-1 if lines is None else lines)}
        response = self._request("GET", "/api/v0/logs/file", "read a replica's log",
                                 params=params)
        text: str = response.text
        return text.splitlines()

    @contextmanager
    def log_stream(self, node_id: str, filename: str, lines: int | None) -> Iterator[LogStream]:
        """A log file on a node, followed: its last ``lines`` lines (all: None; Ray's agent
        reads 0 as 1000), then what is appended, sent by the node's agent as it appears. The
        response stays open until the caller leaves the block or aborts the stream."""
        import httpx

        params = {"node_id": node_id, "filename": filename.lstrip("/"),
                  "lines": str(-1 if lines is None else lines),
                  "interval": str(LOG_STREAM_INTERVAL)}
        # No read timeout: a quiet replica sends nothing for as long as it is quiet.
        timeout = httpx.Timeout(self.timeout, read=None)
        with cluster_errors(self.service_name, "follow a replica's log", self.address), \
                httpx.stream("GET", self.address + "/api/v0/logs/stream", params=params,
                             timeout=timeout) as response:
            if response.is_error:
                response.read()  # the error's text, for the message
                response.raise_for_status()
            yield LogStream(response)


class LogStream:
    """An open log stream: its lines, and a way to end it from another thread."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def lines(self) -> Iterator[str]:
        """The lines as they arrive (blocks while the file does not grow)."""
        return self._response.iter_lines()

    def abort(self) -> None:
        """Wake a reader blocked in :meth:`lines` on another thread, which then sees the stream
        end. The socket is shut down rather than closed: closing it would not wake the reader."""
        network = self._response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if isinstance(sock, socket.socket):
            with suppress(OSError):  # already shut down by the other side
                sock.shutdown(socket.SHUT_RDWR)


def package_directory(directory: Path) -> tuple[str, bytes]:
    """Zip ``directory``'s contents reproducibly; return ``(name, bytes)`` where the name holds
    a hash of every path, mode and byte, so a changed file makes a new package."""
    if not directory.is_dir():
        raise FileNotFoundError(directory)
    buffer = io.BytesIO()
    digest = hashlib.sha256()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(_files(directory)):
            relative = path.relative_to(directory).as_posix()
            data = path.read_bytes()
            mode = stat.S_IMODE(path.stat().st_mode)
            digest.update(f"{relative}\0{mode:o}\0{len(data)}\0".encode())
            digest.update(data)
            info = zipfile.ZipInfo(relative, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return f"outlive_pkg_{digest.hexdigest()[:32]}.zip", buffer.getvalue()


def _files(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = [name for name in dirs if name not in _SKIPPED_DIRS]
        for name in files:
            if not name.endswith((".pyc", ".pyo")):
                yield Path(root) / name
