"""Turn what a user wrote (a dict, JSON, YAML, a file) into a service object, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plugin_core.errors import ConfigError
from plugin_core.service import BaseService

#: Short names usable as ``type`` in definitions, for the registered type names (which, like
#: a package's names and a dotted class path, are accepted as they are).
TYPE_ALIASES = {
    "command": "outlive.command",
    "container": "outlive.container",
    "workflow": "outlive.workflow",
    "ray-serve": "outlive.ray-serve",
    "http": "outlive.http-monitor",
    "tcp": "outlive.tcp-monitor",
}


_TOO_DEEP = (
    "Service definition is nested too deeply to read: a definition is a few levels of "
    "`type`, `config` and `endpoint` mappings."
)


def load_service(definition: BaseService | dict[str, Any] | str | Path) -> BaseService:
    """A service from an object, a dict, JSON or YAML text, or a path to a JSON/YAML file.

    The definition names its kind in ``type`` (an alias such as ``command`` or a dotted class
    path) and gives ``config`` and optionally ``endpoint``; ``endpoint.health`` is a shortcut
    for an HTTP monitor on that path.
    """
    if isinstance(definition, BaseService):
        return definition
    data = _as_mapping(definition)
    try:
        service = BaseService.from_dict(_expand(data))
    except RecursionError:
        raise ConfigError(_TOO_DEEP) from None
    if not any(data["config"].get(key) for key in ("name", "model_name", "service_name")):
        # Python code may leave the name out (ZenML's way: each object is a new service); a
        # definition has no object identity, so it is found again (a rerun, `outlive status`)
        # by its name only.
        raise ConfigError(
            "The service definition's `config.name` is missing or empty: a definition is found "
            "again by its name (a rerun reuses the running service), so give it one, e.g. name: web."
        )
    return service


def _as_mapping(definition: dict[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(definition, dict):
        return definition
    text = str(definition)
    if isinstance(definition, Path) or (len(text) < 4096 and "\n" not in text and _is_file(text)):
        path = Path(text)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot read service definition {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"Service definition {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} "
                f"at offset {exc.start}): save it as UTF-8."
            ) from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise ConfigError(_TOO_DEEP) from None
    except ValueError:
        import yaml

        try:
            data = yaml.safe_load(text)
        except RecursionError:
            raise ConfigError(_TOO_DEEP) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"Service definition is neither valid JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            "A service definition must be a mapping with `type` and `config`, e.g. "
            "{type: command, config: {name: web, command: [python, -m, http.server, '{port}']}}"
        )
    return data


def _is_file(text: str) -> bool:
    """Whether ``text`` names a file; text that cannot be a path (too long, NUL) does not."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _expand(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    kind = data.get("type")
    if not kind:
        raise ConfigError(
            "The service definition has no `type`: use `command`, `container`, `workflow` "
            "or the dotted path of a service class."
        )
    data["type"] = TYPE_ALIASES.get(str(kind), str(kind))
    if "config" not in data or not isinstance(data["config"], dict):
        raise ConfigError("The service definition needs a `config` mapping (with at least `name`).")
    endpoint = data.get("endpoint")
    if isinstance(endpoint, dict):
        data["endpoint"] = _expand_endpoint(dict(endpoint))
    return data


def _expand_endpoint(endpoint: dict[str, Any]) -> dict[str, Any]:
    config = endpoint.setdefault("config", {})
    for key in ("protocol", "port", "ip_address", "allocate_port", "container_port"):
        if key in endpoint:
            config[key] = endpoint.pop(key)
    if "health" in endpoint:
        path = endpoint.pop("health")
        config.setdefault("protocol", "http")
        endpoint["monitor"] = {"type": TYPE_ALIASES["http"], "config": {"healthcheck_uri_path": path}}
    monitor = endpoint.get("monitor")
    if isinstance(monitor, dict) and monitor.get("type") in TYPE_ALIASES:
        monitor["type"] = TYPE_ALIASES[monitor["type"]]
    return endpoint
