"""outlive's service core: start, track, health-check and stop services that outlive the run.

Everything public is importable from here. Names load on first use (PEP 562), so
``import plugin_core`` stays cheap for DAG parsing and CLI start-up; SQLAlchemy,
psutil, docker and FastAPI are imported only by the code that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors
    "OutliveError": "plugin_core.errors",
    "ConfigError": "plugin_core.errors",
    "UnknownServiceTypeError": "plugin_core.errors",
    "RegistryError": "plugin_core.errors",
    "ServiceNotFoundError": "plugin_core.errors",
    "DuplicateServiceError": "plugin_core.errors",
    "ConcurrentUpdateError": "plugin_core.errors",
    "CorruptRecordError": "plugin_core.errors",
    "LifecycleError": "plugin_core.errors",
    "StartTimeoutError": "plugin_core.errors",
    "ServiceFailedError": "plugin_core.errors",
    "ServiceConfigConflictError": "plugin_core.errors",
    "BackendError": "plugin_core.errors",
    "DaemonSpawnError": "plugin_core.errors",
    "PortInUseError": "plugin_core.errors",
    "ContainerEngineError": "plugin_core.errors",
    # model
    "BaseTypedModel": "plugin_core.model.typed",
    "ServiceState": "plugin_core.model.state",
    "ServiceStatus": "plugin_core.model.status",
    "ServiceType": "plugin_core.model.service_type",
    "ServiceConfig": "plugin_core.model.config",
    "ProbePolicy": "plugin_core.model.probe_policy",
    "RestartPolicy": "plugin_core.model.restart",
    "ServiceEndpointProtocol": "plugin_core.model.endpoint",
    "ServiceEndpointConfig": "plugin_core.model.endpoint",
    "ServiceEndpointStatus": "plugin_core.model.endpoint",
    "BaseServiceEndpoint": "plugin_core.model.endpoint",
    "ProbeResult": "plugin_core.model.monitors",
    "BaseServiceEndpointHealthMonitor": "plugin_core.model.monitors",
    "BaseServiceEndpointHealthMonitorConfig": "plugin_core.model.monitors",
    "HTTPEndpointHealthMonitor": "plugin_core.model.monitors",
    "HTTPEndpointHealthMonitorConfig": "plugin_core.model.monitors",
    "TCPEndpointHealthMonitor": "plugin_core.model.monitors",
    "TCPEndpointHealthMonitorConfig": "plugin_core.model.monitors",
    # services
    "BaseService": "plugin_core.service",
    "BaseDeploymentService": "plugin_core.service",
    "update_service_status": "plugin_core.service",
    "LocalDaemonService": "plugin_core.backends.local",
    "LocalDaemonServiceConfig": "plugin_core.backends.local",
    "LocalDaemonServiceStatus": "plugin_core.backends.local",
    "LocalDaemonServiceEndpoint": "plugin_core.backends.local",
    "LocalDaemonServiceEndpointConfig": "plugin_core.backends.local",
    "LocalDaemonServiceEndpointStatus": "plugin_core.backends.local",
    "http_endpoint": "plugin_core.backends.local",
    "CommandService": "plugin_core.backends.command",
    "CommandServiceConfig": "plugin_core.backends.command",
    # registry and lifecycle
    "ServiceRegistry": "plugin_core.registry.store",
    "ServiceRecord": "plugin_core.registry.store",
    "start_service": "plugin_core.lifecycle",
    "stop_service": "plugin_core.lifecycle",
    "update_service": "plugin_core.lifecycle",
    "delete_service": "plugin_core.lifecycle",
    "get_service": "plugin_core.lifecycle",
    "find_services": "plugin_core.lifecycle",
    "wait_for_service": "plugin_core.lifecycle",
    "ServiceSnapshot": "plugin_core.snapshots",
    "service_info": "plugin_core.snapshots",
    "check_service_once": "plugin_core.snapshots",
    "await_service_active": "plugin_core.snapshots",
    "load_service": "plugin_core.definitions",
    "wait_until": "plugin_core.waiting",
    "await_until": "plugin_core.waiting",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'plugin_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from plugin_core.backends.command import CommandService, CommandServiceConfig
    from plugin_core.backends.local import (
        LocalDaemonService,
        LocalDaemonServiceConfig,
        LocalDaemonServiceEndpoint,
        LocalDaemonServiceEndpointConfig,
        LocalDaemonServiceEndpointStatus,
        LocalDaemonServiceStatus,
        http_endpoint,
    )
    from plugin_core.definitions import load_service
    from plugin_core.errors import (
        BackendError,
        ConcurrentUpdateError,
        ConfigError,
        ContainerEngineError,
        CorruptRecordError,
        DaemonSpawnError,
        DuplicateServiceError,
        LifecycleError,
        OutliveError,
        PortInUseError,
        RegistryError,
        ServiceConfigConflictError,
        ServiceFailedError,
        ServiceNotFoundError,
        StartTimeoutError,
        UnknownServiceTypeError,
    )
    from plugin_core.lifecycle import (
        delete_service,
        find_services,
        get_service,
        start_service,
        stop_service,
        update_service,
        wait_for_service,
    )
    from plugin_core.model.config import ServiceConfig
    from plugin_core.model.endpoint import (
        BaseServiceEndpoint,
        ServiceEndpointConfig,
        ServiceEndpointProtocol,
        ServiceEndpointStatus,
    )
    from plugin_core.model.monitors import (
        BaseServiceEndpointHealthMonitor,
        BaseServiceEndpointHealthMonitorConfig,
        HTTPEndpointHealthMonitor,
        HTTPEndpointHealthMonitorConfig,
        ProbeResult,
        TCPEndpointHealthMonitor,
        TCPEndpointHealthMonitorConfig,
    )
    from plugin_core.model.probe_policy import ProbePolicy
    from plugin_core.model.restart import RestartPolicy
    from plugin_core.model.service_type import ServiceType
    from plugin_core.model.state import ServiceState
    from plugin_core.model.status import ServiceStatus
    from plugin_core.model.typed import BaseTypedModel
    from plugin_core.registry.store import ServiceRecord, ServiceRegistry
    from plugin_core.service import BaseDeploymentService, BaseService, update_service_status
    from plugin_core.snapshots import (
        ServiceSnapshot,
        await_service_active,
        check_service_once,
        service_info,
    )
    from plugin_core.waiting import await_until, wait_until
