"""``{port}`` and ``{host}`` in a service's command, environment and working directory.

One rule for every backend, and one error text: a program often needs its own address on the
command line, and a backend knows it only when the service starts. Other braces must be
doubled, as in :meth:`str.format`.
"""

from __future__ import annotations

from plugin_core.errors import ConfigError


def fill_address(text: str, *, service_name: str, port: int | None, host: str) -> str:
    """``text`` with ``{port}`` (empty while unknown) and ``{host}`` filled in."""
    try:
        return text.format(port=port or "", host=host)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"Service {service_name!r}: cannot fill {text!r}: only {{port}} and "
            f"{{host}} can be templated (double other braces: '{{{{' and '}}}}'); {exc}"
        ) from None
