"""One HTTP or TCP health check, sync or async, as a :class:`ProbeResult`.

Every probe opens a fresh connection: a kept-alive connection can stall for
tens of milliseconds on a Nagle/delayed-ACK interplay with simple servers, and
a health check should measure the server, not a pooled socket. Only the stdlib
is used, so probing costs no import time.
"""

from __future__ import annotations

import functools
import socket
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    import ssl

    from plugin_core.model.monitors import ProbeResult

_MAX_STATUS_LINE = 8192


def probe_tcp(host: str, port: int, *, timeout: float) -> ProbeResult:
    """Healthy when ``host:port`` accepts a connection within ``timeout``."""
    return _result(*check_tcp(host, port, timeout=timeout))


def check_tcp(host: str, port: int, *, timeout: float) -> tuple[bool, str]:
    """:func:`probe_tcp`'s verdict as ``(ok, detail)``, for callers that hold no models."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, f"tcp {host}:{port} accepted a connection"
    except OSError as exc:
        return False, f"tcp {host}:{port}: {_describe(exc)}"


def _result(ok: bool, detail: str) -> ProbeResult:
    from plugin_core.model.monitors import ProbeResult

    return ProbeResult(ok=ok, detail=detail)


async def aprobe_tcp(host: str, port: int, *, timeout: float) -> ProbeResult:
    """:func:`probe_tcp` without blocking the event loop."""
    import asyncio  # loaded already by the caller's event loop; sync callers never pay for it

    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        detail = _describe(exc, (TimeoutError, asyncio.TimeoutError))
        return _result(False, f"tcp {host}:{port}: {detail}")
    writer.close()
    return _result(True, f"tcp {host}:{port} accepted a connection")


def probe_http(url: str, *, method: str, accepted: set[int], timeout: float) -> ProbeResult:
    """Healthy when ``method url`` answers with a status code in ``accepted``.

    Only the status line is read, over a plain socket: a status query of hundreds of
    services should not parse every answer's headers (``http.client`` costs ~3x more)."""
    return _result(*check_http(url, method=method, accepted=accepted, timeout=timeout))


def check_http(url: str, *, method: str, accepted: set[int], timeout: float) -> tuple[bool, str]:
    """:func:`probe_http`'s verdict as ``(ok, detail)``, for callers that hold no models."""
    target = _target(method, url)
    try:
        with _connect(target, timeout) as raw:
            sock = _lenient_tls().wrap_socket(raw, server_hostname=target.host) if target.tls else raw
            sock.sendall(target.request)
            status_line = b""
            while b"\n" not in status_line and len(status_line) < _MAX_STATUS_LINE:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                status_line += chunk
    except OSError as exc:
        return False, f"{method} {url}: {_describe(exc)}"
    return _answer(method, url, status_line.split(b"\n", 1)[0], accepted)


class _Target(NamedTuple):
    """What a probe of one URL sends, and where: parsed once per URL, not once per probe."""

    host: str
    port: int
    tls: bool
    family: socket.AddressFamily | None  # an IP address's family: no name lookup needed
    request: bytes


@functools.lru_cache(maxsize=4096)
def _target(method: str, url: str) -> _Target:
    parts = urlsplit(url)
    host, port = _address(parts)
    return _Target(host, port, _tls(parts), _ip_family(host), _request(method, url, parts))


def _ip_family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP address, None for a name (or a scoped IPv6 address)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family
    return None


def _connect(target: _Target, timeout: float) -> socket.socket:
    """A connection to the target: straight to an IP address (``create_connection`` would ask
    the resolver first, and a status query of hundreds of services pays that each time)."""
    if target.family is None:
        return socket.create_connection((target.host, target.port), timeout=timeout)
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((target.host, target.port))
    except BaseException:
        sock.close()
        raise
    return sock


async def aprobe_http(url: str, *, method: str, accepted: set[int], timeout: float) -> ProbeResult:
    """:func:`probe_http` without blocking the event loop (the same request, over asyncio streams)."""
    import asyncio

    target = _target(method, url)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                target.host, target.port, ssl=_lenient_tls() if target.tls else None
            ),
            timeout,
        )
        try:
            writer.write(target.request)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout)
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError) as exc:
        detail = _describe(exc, (TimeoutError, asyncio.TimeoutError))
        return _result(False, f"{method} {url}: {detail}")
    return _result(*_answer(method, url, status_line, accepted))


def _tls(parts: SplitResult) -> bool:
    return parts.scheme == "https"


def _address(parts: SplitResult) -> tuple[str, int]:
    return parts.hostname or "127.0.0.1", parts.port or (443 if _tls(parts) else 80)


def _request(method: str, url: str, parts: SplitResult) -> bytes:
    """One HTTP/1.1 request that asks the server to close the connection after answering."""
    return (
        f"{method} {_path(url)} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "User-Agent: outlive-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


def _answer(method: str, url: str, status_line: bytes, accepted: set[int]) -> tuple[bool, str]:
    """The verdict on a status line (``HTTP/1.1 200 OK``)."""
    fields = status_line.split()
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        return False, f"{method} {url}: not an HTTP answer {status_line!r}"
    status = int(fields[1])
    if status in accepted:
        return True, f"{method} {url} -> {status}"
    wanted = ", ".join(str(code) for code in sorted(accepted))
    return False, f"{method} {url} -> {status} (expected {wanted})"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _describe(exc: BaseException, timeouts: tuple[type[BaseException], ...] = (TimeoutError,)) -> str:
    """One phrase for a failed probe. ``timeouts``: the async probes add asyncio's TimeoutError,
    which is not the builtin one before Python 3.11 (socket.timeout is, since 3.10)."""
    if isinstance(exc, timeouts):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _lenient_tls() -> ssl.SSLContext:
    """Health checks of self-signed local servers must not fail on certificates."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
