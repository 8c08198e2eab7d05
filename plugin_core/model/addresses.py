"""The one check of an address a user gives (``ip_address``): an IP address, or a hostname
that resolves.

Records loaded back from the registry are checked by syntax only (inside
:func:`stored_records`): they were resolved when they were defined, and a resolver outage
must not make every record unreadable. Whether the address belongs to this machine is a
question for the backend that binds it (:mod:`plugin_core.ports`).
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import re
import socket
from collections.abc import Iterator

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")  # fullmatch: "$" would pass a trailing "\n"
_RESOLVE = contextvars.ContextVar("outlive_resolve_addresses", default=True)
HINT = "give an IP address such as '127.0.0.1' or '0.0.0.0', or a hostname such as 'localhost'"


def check_address(value: str) -> str:
    """``value`` if it is an IP address or a resolvable hostname, else ValueError saying why."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if not value or len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"ip_address {value!r} is neither an IP address nor a hostname: {HINT}")
    if _RESOLVE.get():
        try:
            socket.getaddrinfo(value, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ValueError(f"ip_address {value!r} does not resolve ({reason}): {HINT}") from None
    return value


@contextlib.contextmanager
def stored_records() -> Iterator[None]:
    """Within this block, hostnames are checked by syntax only (no DNS lookup)."""
    token = _RESOLVE.set(False)
    try:
        yield
    finally:
        _RESOLVE.reset(token)
