"""One HTTP or TCP health check, sync or async, as a :class:`ProbeResult`.

Every probe opens a fresh connection: a kept-alive connection can stall for
tens of milliseconds on a Nagle/delayed-ACK interplay with simple servers, and
a health check should measure the server, not a pooled socket. Only the stdlib
is used, so probing costs no import time.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from urllib.parse import urlsplit

from plugin_core.model.monitors import ProbeResult


def probe_tcp(host: str, port: int, *, timeout: float) -> ProbeResult:
    """Healthy when ``host:port`` accepts a connection within ``timeout``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(ok=True, detail=f"tcp {host}:{port} accepted a connection")
    except OSError as exc:
        return ProbeResult(ok=False, detail=f"tcp {host}:{port}: {_describe(exc)}")


async def aprobe_tcp(host: str, port: int, *, timeout: float) -> ProbeResult:
    """:func:`probe_tcp` without blocking the event loop."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return ProbeResult(ok=False, detail=f"tcp {host}:{port}: {_describe(exc)}")
    writer.close()
    return ProbeResult(ok=True, detail=f"tcp {host}:{port} accepted a connection")


def probe_http(url: str, *, method: str, accepted: set[int], timeout: float) -> ProbeResult:
    """Healthy when ``method url`` answers with a status code in ``accepted``."""
    import http.client

    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=_lenient_tls())
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    try:
        connection.request(method, _path(url), headers={"Connection": "close"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(ok=False, detail=f"{method} {url}: {_describe(exc)}")
    finally:
        connection.close()
    return _judge(method, url, status, accepted)


async def aprobe_http(url: str, *, method: str, accepted: set[int], timeout: float) -> ProbeResult:
    """:func:`probe_http` without blocking the event loop (HTTP/1.0 over asyncio streams)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ssl_context = _lenient_tls() if parts.scheme == "https" else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl_context), timeout
        )
        try:
            request = f"{method} {_path(url)} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n"
            writer.write(request.encode("latin-1"))
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout)
        finally:
            writer.close()
    except (OSError, asyncio.TimeoutError) as exc:
        return ProbeResult(ok=False, detail=f"{method} {url}: {_describe(exc)}")
    fields = status_line.split()
    if len(fields) < 2 or not fields[1].isdigit():
        return ProbeResult(ok=False, detail=f"{method} {url}: not an HTTP answer {status_line!r}")
    return _judge(method, url, int(fields[1]), accepted)


def _judge(method: str, url: str, status: int, accepted: set[int]) -> ProbeResult:
    if status in accepted:
        return ProbeResult(ok=True, detail=f"{method} {url} -> {status}")
    wanted = ", ".join(str(code) for code in sorted(accepted))
    return ProbeResult(ok=False, detail=f"{method} {url} -> {status} (expected {wanted})")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _lenient_tls() -> ssl.SSLContext:
    """Health checks of self-signed local servers must not fail on certificates."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
