"""Stored type names: what a record calls a model class, and how a name finds its class again.

Every typed model is stored with a ``type`` naming its class. The name is chosen so that
moving a class between modules is a code change only, never a data migration:

=========================================  ======================================  =====================================
class                                      stored ``type``                         how another process finds the class
=========================================  ======================================  =====================================
outlive's own (:data:`BUILTIN_TYPES`)      ``outlive.command``, ...                the table below (``module:QualName``)
a package's, declared                      its ``type_name=``, e.g. ``acme.web``   its entry point in ``outlive.services``
``class Web(BaseService, type_name=...)``
any other of an importable module          its import path ``module.QualName``    import (move it, and old records break)
(a ZenML-style user subclass)
one defined in a script run as __main__    ``/abs/path/script.py:QualName``        load the script by path
=========================================  ======================================  =====================================

A subclass does not inherit its parent's name: a user's ``class MyDaemon(LocalDaemonService)``
is stored by its import path until it declares a name of its own. A service class's declared
name must be published as an entry point of that name (``[project.entry-points.
"outlive.services"] "acme.web" = "acme.serving:Web"``), else the class is refused where it is
defined: a process that has not imported it (the daemon, the CLI) could never read its records.
Its config, status and endpoint models may declare names without one: a record is read service
first, and importing the service's module defines them.

Reading resolves a stored name, in order: classes already defined in this process; outlive's
names; the import paths outlive 0.1.0 stored for its own classes (:data:`LEGACY_TYPES`, frozen:
those records exist) and the names of classes that became aliases (:data:`RETIRED_TYPES`); a
script path; an import path; the ``outlive.services`` entry points.
Import paths come before entry points so that reading a user's class never pays for a scan of
every installed distribution's metadata; a declared name should therefore not also be the
import path of another model class.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

from plugin_core.errors import ConfigError, UnknownServiceTypeError
from plugin_core.model.scripts import class_from_script, is_script_type, script_path

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "outlive.services"
RESERVED_PREFIX = "outlive."

#: outlive's own model classes: stored name -> where the class lives now (``module:QualName``).
#: Moving a class to another module changes its line here, and nothing else.
BUILTIN_TYPES: dict[str, str] = {
    "outlive.service": "plugin_core.service:BaseService",
    "outlive.deployment-service": "plugin_core.deployment:BaseDeploymentService",
    "outlive.service-config": "plugin_core.model.config:ServiceConfig",
    "outlive.service-status": "plugin_core.model.status:ServiceStatus",
    "outlive.endpoint": "plugin_core.model.endpoint:BaseServiceEndpoint",
    "outlive.endpoint-config": "plugin_core.model.endpoint:ServiceEndpointConfig",
    "outlive.endpoint-status": "plugin_core.model.endpoint:ServiceEndpointStatus",
    "outlive.monitor": "plugin_core.model.monitors:BaseServiceEndpointHealthMonitor",
    "outlive.monitor-config": "plugin_core.model.monitors:BaseServiceEndpointHealthMonitorConfig",
    "outlive.http-monitor": "plugin_core.model.standard_monitors:HTTPEndpointHealthMonitor",
    "outlive.http-monitor-config": "plugin_core.model.standard_monitors:HTTPEndpointHealthMonitorConfig",
    "outlive.tcp-monitor": "plugin_core.model.standard_monitors:TCPEndpointHealthMonitor",
    "outlive.tcp-monitor-config": "plugin_core.model.standard_monitors:TCPEndpointHealthMonitorConfig",
    "outlive.supervised": "plugin_core.backends.supervised:SupervisedService",
    "outlive.supervised-config": "plugin_core.backends.supervised:SupervisedServiceConfig",
    "outlive.supervised-status": "plugin_core.backends.supervised:SupervisedServiceStatus",
    "outlive.supervised-endpoint": "plugin_core.backends.supervised:SupervisedEndpoint",
    "outlive.local-daemon": "plugin_core.backends.local:LocalDaemonService",
    "outlive.local-daemon-config": "plugin_core.backends.local:LocalDaemonServiceConfig",
    "outlive.command": "plugin_core.backends.command:CommandService",
    "outlive.command-config": "plugin_core.backends.command:CommandServiceConfig",
    "outlive.container": "plugin_core.backends.container:ContainerService",
    "outlive.container-config": "plugin_core.backends.container:ContainerServiceConfig",
    "outlive.container-status": "plugin_core.backends.container:ContainerServiceStatus",
    "outlive.container-endpoint": "plugin_core.backends.container:ContainerServiceEndpoint",
    "outlive.container-endpoint-config":
        "plugin_core.backends.container:ContainerServiceEndpointConfig",
    "outlive.container-endpoint-status":
        "plugin_core.backends.container:ContainerServiceEndpointStatus",
    "outlive.ray-serve": "plugin_core.backends.ray_serve:RayServeService",
    "outlive.ray-serve-config": "plugin_core.backends._serve_model:RayServeServiceConfig",
    "outlive.ray-serve-status": "plugin_core.backends._serve_model:RayServeServiceStatus",
    "outlive.ray-serve-endpoint": "plugin_core.backends._serve_model:RayServeEndpoint",
    "outlive.workflow": "plugin_core.workflow.service:WorkflowService",
    "outlive.workflow-config": "plugin_core.workflow.config:WorkflowServiceConfig",
}

#: What outlive 0.1.0 stored for its own classes (their import paths then) -> today's name.
#: Frozen: rows and ``service.json`` files with these exist; never edit an entry.
LEGACY_TYPES: dict[str, str] = {
    "plugin_core.service.BaseService": "outlive.service",
    "plugin_core.service.BaseDeploymentService": "outlive.deployment-service",
    "plugin_core.model.config.ServiceConfig": "outlive.service-config",
    "plugin_core.model.status.ServiceStatus": "outlive.service-status",
    "plugin_core.model.endpoint.BaseServiceEndpoint": "outlive.endpoint",
    "plugin_core.model.endpoint.ServiceEndpointConfig": "outlive.endpoint-config",
    "plugin_core.model.endpoint.ServiceEndpointStatus": "outlive.endpoint-status",
    "plugin_core.model.monitors.BaseServiceEndpointHealthMonitor": "outlive.monitor",
    "plugin_core.model.monitors.BaseServiceEndpointHealthMonitorConfig": "outlive.monitor-config",
    "plugin_core.model.monitors.HTTPEndpointHealthMonitor": "outlive.http-monitor",
    "plugin_core.model.monitors.HTTPEndpointHealthMonitorConfig": "outlive.http-monitor-config",
    "plugin_core.model.monitors.TCPEndpointHealthMonitor": "outlive.tcp-monitor",
    "plugin_core.model.monitors.TCPEndpointHealthMonitorConfig": "outlive.tcp-monitor-config",
    "plugin_core.backends.local.LocalDaemonService": "outlive.local-daemon",
    "plugin_core.backends.local.LocalDaemonServiceConfig": "outlive.local-daemon-config",
    "plugin_core.backends.local.LocalDaemonServiceStatus": "outlive.local-daemon-status",
    "plugin_core.backends.local.LocalDaemonServiceEndpoint": "outlive.local-daemon-endpoint",
    "plugin_core.backends.local.LocalDaemonServiceEndpointConfig":
        "outlive.local-daemon-endpoint-config",
    "plugin_core.backends.local.LocalDaemonServiceEndpointStatus":
        "outlive.local-daemon-endpoint-status",
    "plugin_core.backends.command.CommandService": "outlive.command",
    "plugin_core.backends.command.CommandServiceConfig": "outlive.command-config",
    "plugin_core.backends.container.ContainerService": "outlive.container",
    "plugin_core.backends.container.ContainerServiceConfig": "outlive.container-config",
    "plugin_core.backends.container.ContainerServiceStatus": "outlive.container-status",
    "plugin_core.backends.container.ContainerServiceEndpoint": "outlive.container-endpoint",
    "plugin_core.backends.container.ContainerServiceEndpointConfig":
        "outlive.container-endpoint-config",
    "plugin_core.backends.container.ContainerServiceEndpointStatus":
        "outlive.container-endpoint-status",
    "plugin_core.backends.ray_serve.RayServeService": "outlive.ray-serve",
    "plugin_core.backends._serve_model.RayServeServiceConfig": "outlive.ray-serve-config",
    "plugin_core.backends._serve_model.RayServeServiceStatus": "outlive.ray-serve-status",
    "plugin_core.backends._serve_model.RayServeEndpoint": "outlive.ray-serve-endpoint",
    "plugin_core.workflow.service.WorkflowService": "outlive.workflow",
    "plugin_core.workflow.config.WorkflowServiceConfig": "outlive.workflow-config",
}

#: Names outlive stored for classes that became another's alias -> the name now (frozen, as
#: above). ZenML's LocalDaemonServiceStatus and endpoint names were subclasses adding nothing;
#: they are now the supervised classes themselves (see plugin_core.backends.local).
RETIRED_TYPES: dict[str, str] = {
    "outlive.local-daemon-status": "outlive.supervised-status",
    "outlive.local-daemon-endpoint": "outlive.supervised-endpoint",
    "outlive.local-daemon-endpoint-config": "outlive.endpoint-config",
    "outlive.local-daemon-endpoint-status": "outlive.endpoint-status",
}

_BUILTIN_AT = {location: name for name, location in BUILTIN_TYPES.items()}
CLASS_BY_NAME: dict[str, type] = {}  # every name a class was stored or found under -> the class
NAME_BY_CLASS: dict[type, str] = {}  # class -> the name it is stored under
_ENTRY_POINTS: dict[str, EntryPoint] | None = None
_SCAN = threading.Lock()


def type_name_of(cls: type) -> str:
    """The ``type`` stored for ``cls``: its registered name, else its script type or import
    path (see the table at the top of this module)."""
    name = NAME_BY_CLASS.get(cls)
    return name if name is not None else _default_name(cls)


def register(cls: type, declared: str | None) -> None:
    """Record the stored name of a model class being defined (``declared``: its
    ``type_name=``), so this process resolves it without importing anything."""
    if declared is not None:
        _check_declared(cls, declared)
    name = declared or _BUILTIN_AT.get(f"{cls.__module__}:{cls.__qualname__}") or _default_name(cls)
    NAME_BY_CLASS[cls] = name
    CLASS_BY_NAME[name] = cls
    if script_path(cls) is None:
        CLASS_BY_NAME[f"{cls.__module__}.{cls.__qualname__}"] = cls  # its 0.1.0 name, if it had one


def resolve_type(type_name: str) -> type:
    """The class a stored ``type`` names (see the resolution order at the top of this module);
    :class:`UnknownServiceTypeError` saying why when nothing answers to it."""
    known = CLASS_BY_NAME.get(type_name)
    if known is not None:
        return known
    found = _resolve(type_name)
    CLASS_BY_NAME.setdefault(type_name, found)
    return found


def names_of(type_name: str) -> set[str]:
    """Every ``type`` a record of the class named ``type_name`` may hold: its name now, its
    import path and what 0.1.0 stored for it; just ``{type_name}`` if it names no class."""
    try:
        cls = resolve_type(type_name)
    except ConfigError:
        return {type_name}
    name = type_name_of(cls)
    retired = {old for old, new in RETIRED_TYPES.items() if new == name}
    legacy = {old for old, new in LEGACY_TYPES.items() if new == name or new in retired}
    legacy |= retired
    return {type_name, name, f"{cls.__module__}.{cls.__qualname__}", *legacy}


def _default_name(cls: type) -> str:
    path = script_path(cls)
    if path is not None:
        return f"{path}:{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_declared(cls: type, name: str) -> None:
    location = f"{cls.__module__}:{cls.__qualname__}"
    where = f"{cls.__qualname__} declares type_name={name!r}"
    if not name or name != name.strip() or ":" in name or name.startswith("/"):
        raise ConfigError(
            f"{where}: a type name is non-empty text without ':' or a leading '/' (those "
            "mark script types), e.g. 'acme.web-server'."
        )
    if name.startswith(RESERVED_PREFIX) and BUILTIN_TYPES.get(name) != location:
        raise ConfigError(f"{where}: names starting with 'outlive.' are outlive's own; use yours.")
    holder = CLASS_BY_NAME.get(name)
    if holder is not None and f"{holder.__module__}:{holder.__qualname__}" != location:
        raise ConfigError(
            f"{where}, but {holder.__module__}.{holder.__qualname__} already has that name: "
            "one name, one class; choose another."
        )
    if not hasattr(cls, "SERVICE_TYPE"):
        return  # a service's part: found once the service's module is imported for its record
    if name not in BUILTIN_TYPES and name not in _entry_points() and name not in _entry_points(
        rescan=True
    ):
        raise ConfigError(
            f"{where}, but no installed package publishes it in the entry point group "
            f"{ENTRY_POINT_GROUP!r}, so a process that has not imported {cls.__qualname__} (the "
            "daemon, the CLI) could not read its records. Publish it in your package metadata: "
            f'[project.entry-points."{ENTRY_POINT_GROUP}"] "{name}" = "{location}" (and '
            "reinstall the package), or drop type_name= to store the class by its import path."
        )


def _resolve(type_name: str) -> type:
    name = LEGACY_TYPES.get(type_name, type_name)
    name = RETIRED_TYPES.get(name, name)
    location = BUILTIN_TYPES.get(name)
    if location is not None:
        return _builtin(name, location)
    if name.startswith(RESERVED_PREFIX):
        raise UnknownServiceTypeError(
            name, "no class of this outlive has that name, so a newer outlive probably wrote "
            "it: upgrade outlive (pip install -U outlive)"
        )
    if is_script_type(name):
        return _model_class(name, class_from_script(name))
    try:
        return _import_class(name)
    except UnknownServiceTypeError:
        entry_point = _entry_points().get(name) or _entry_points(rescan=True).get(name)
        if entry_point is None:
            raise
    return _from_entry_point(name, entry_point)


def _builtin(name: str, location: str) -> type:
    module_name, _, qualname = location.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownServiceTypeError(
            name, f"its module {module_name} needs what is not installed here ({exc}); install "
            "the outlive extra that provides it"
        ) from None
    found: Any = module
    for attr in qualname.split("."):
        found = getattr(found, attr)
    return _model_class(name, found)


def _entry_points(rescan: bool = False) -> dict[str, EntryPoint]:
    """The ``outlive.services`` entry points by name: one scan of the installed packages'
    metadata (tens of milliseconds), done when a name first needs it and again only for a
    name the last scan did not have (a package installed since)."""
    global _ENTRY_POINTS
    with _SCAN:
        if _ENTRY_POINTS is None or rescan:
            from importlib.metadata import entry_points

            _ENTRY_POINTS = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return _ENTRY_POINTS


def _from_entry_point(name: str, entry_point: EntryPoint) -> type:
    try:
        loaded = entry_point.load()
    except (ImportError, AttributeError) as exc:
        raise UnknownServiceTypeError(
            name, f"its entry point {entry_point.value!r} does not load: {exc}"
        ) from None
    return _model_class(name, loaded)


def _import_class(type_name: str) -> type:
    module_name, _, qualname = type_name.rpartition(".")
    if not module_name or module_name == "__main__":
        raise UnknownServiceTypeError(
            type_name, "it was defined in __main__ without a script file (python -c, a REPL)"
        )
    # Nested classes: walk back until the module part imports.
    parts = type_name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name, attrs = ".".join(parts[:split]), parts[split:]
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in attrs:
                found = getattr(found, attr)
        except AttributeError:
            raise UnknownServiceTypeError(
                type_name, f"module {module_name!r} has no attribute {'.'.join(attrs)!r}"
            ) from None
        return _model_class(type_name, found)
    raise UnknownServiceTypeError(type_name, f"no module of {qualname!r} could be imported")


def _model_class(name: str, found: Any) -> type:
    if isinstance(found, type) and found in NAME_BY_CLASS:
        return found
    raise UnknownServiceTypeError(name, "it is not an outlive model class")
