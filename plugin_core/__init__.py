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
    "ServiceOnOtherHostError": "plugin_core.errors",
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
    "ServiceEndpointHealthMonitorConfig": "plugin_core.model.monitors",
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
    "ContainerService": "plugin_core.backends.container",
    "ContainerServiceConfig": "plugin_core.backends.container",
    "ContainerServiceStatus": "plugin_core.backends.container",
    "ContainerServiceEndpoint": "plugin_core.backends.container",
    "ContainerServiceEndpointConfig": "plugin_core.backends.container",
    "ContainerServiceEndpointStatus": "plugin_core.backends.container",
    "container_http_endpoint": "plugin_core.backends.container",
    "RayServeService": "plugin_core.backends.ray_serve",
    "RayServeServiceConfig": "plugin_core.backends.ray_serve",
    "RayServeServiceStatus": "plugin_core.backends.ray_serve",
    "RayServeEndpoint": "plugin_core.backends.ray_serve",
    "RayActorOptions": "plugin_core.backends.ray_serve",
    "RayClusterError": "plugin_core.backends.ray_serve",
    # workflow services ([workflow] extra; nothing below imports FastAPI until served)
    "WorkflowService": "plugin_core.workflow.service",
    "WorkflowServiceConfig": "plugin_core.workflow.config",
    "WorkflowClient": "plugin_core.workflow.client",
    "AsyncWorkflowClient": "plugin_core.workflow.client",
    "current_task": "plugin_core.workflow.executor",
    "TaskRecord": "plugin_core.workflow.models",
    "TaskState": "plugin_core.workflow.models",
    "SessionState": "plugin_core.workflow.models",
    "SessionStore": "plugin_core.workflow.session",
    "WorkflowServiceError": "plugin_core.workflow.errors",
    "WorkflowBusyError": "plugin_core.workflow.errors",
    "WorkflowTaskError": "plugin_core.workflow.errors",
    "WorkflowLoadError": "plugin_core.workflow.errors",
    "TaskNotFoundError": "plugin_core.workflow.errors",
    "workflow_env": "plugin_core.workflow.config",
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
    "outlive_home": "plugin_core.paths",
    "prune_services": "plugin_core.prune",
    "PruneReport": "plugin_core.prune",
    "wait_until": "plugin_core.waiting",
    "await_until": "plugin_core.waiting",
    # events and watching after the run
    "EventOutcome": "plugin_core.events",
    "ServiceEvent": "plugin_core.events",
    "EventLog": "plugin_core.events",
    "EventRecorder": "plugin_core.events",
    "Watcher": "plugin_core.watch",
    "LogSink": "plugin_core.watch",
    "WebhookSink": "plugin_core.watch",
    "watch_service": "plugin_core.watch",
}

__all__ = [
    "AsyncWorkflowClient",
    "BackendError",
    "BaseDeploymentService",
    "BaseService",
    "BaseServiceEndpoint",
    "BaseServiceEndpointHealthMonitor",
    "BaseServiceEndpointHealthMonitorConfig",
    "BaseTypedModel",
    "CommandService",
    "CommandServiceConfig",
    "ConcurrentUpdateError",
    "ConfigError",
    "ContainerEngineError",
    "ContainerService",
    "ContainerServiceConfig",
    "ContainerServiceEndpoint",
    "ContainerServiceEndpointConfig",
    "ContainerServiceEndpointStatus",
    "ContainerServiceStatus",
    "CorruptRecordError",
    "DaemonSpawnError",
    "DuplicateServiceError",
    "EventLog",
    "EventOutcome",
    "EventRecorder",
    "HTTPEndpointHealthMonitor",
    "HTTPEndpointHealthMonitorConfig",
    "LifecycleError",
    "LocalDaemonService",
    "LocalDaemonServiceConfig",
    "LocalDaemonServiceEndpoint",
    "LocalDaemonServiceEndpointConfig",
    "LocalDaemonServiceEndpointStatus",
    "LocalDaemonServiceStatus",
    "LogSink",
    "OutliveError",
    "PortInUseError",
    "ProbePolicy",
    "ProbeResult",
    "PruneReport",
    "RayActorOptions",
    "RayClusterError",
    "RayServeEndpoint",
    "RayServeService",
    "RayServeServiceConfig",
    "RayServeServiceStatus",
    "RegistryError",
    "RestartPolicy",
    "ServiceConfig",
    "ServiceConfigConflictError",
    "ServiceEndpointConfig",
    "ServiceEndpointHealthMonitorConfig",
    "ServiceEndpointProtocol",
    "ServiceEndpointStatus",
    "ServiceEvent",
    "ServiceFailedError",
    "ServiceNotFoundError",
    "ServiceOnOtherHostError",
    "ServiceRecord",
    "ServiceRegistry",
    "ServiceSnapshot",
    "ServiceState",
    "ServiceStatus",
    "ServiceType",
    "SessionState",
    "SessionStore",
    "StartTimeoutError",
    "TCPEndpointHealthMonitor",
    "TCPEndpointHealthMonitorConfig",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskState",
    "UnknownServiceTypeError",
    "Watcher",
    "WebhookSink",
    "WorkflowBusyError",
    "WorkflowClient",
    "WorkflowLoadError",
    "WorkflowService",
    "WorkflowServiceConfig",
    "WorkflowServiceError",
    "WorkflowTaskError",
    "await_service_active",
    "await_until",
    "check_service_once",
    "container_http_endpoint",
    "current_task",
    "delete_service",
    "find_services",
    "get_service",
    "http_endpoint",
    "load_service",
    "outlive_home",
    "prune_services",
    "service_info",
    "start_service",
    "stop_service",
    "update_service",
    "update_service_status",
    "wait_for_service",
    "wait_until",
    "watch_service",
    "workflow_env",
]


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
    from plugin_core.backends.command import (
        CommandService as CommandService,
        CommandServiceConfig as CommandServiceConfig,
    )
    from plugin_core.backends.container import (
        ContainerService as ContainerService,
        ContainerServiceConfig as ContainerServiceConfig,
        ContainerServiceEndpoint as ContainerServiceEndpoint,
        ContainerServiceEndpointConfig as ContainerServiceEndpointConfig,
        ContainerServiceEndpointStatus as ContainerServiceEndpointStatus,
        ContainerServiceStatus as ContainerServiceStatus,
        container_http_endpoint as container_http_endpoint,
    )
    from plugin_core.backends.local import (
        LocalDaemonService as LocalDaemonService,
        LocalDaemonServiceConfig as LocalDaemonServiceConfig,
        LocalDaemonServiceEndpoint as LocalDaemonServiceEndpoint,
        LocalDaemonServiceEndpointConfig as LocalDaemonServiceEndpointConfig,
        LocalDaemonServiceEndpointStatus as LocalDaemonServiceEndpointStatus,
        LocalDaemonServiceStatus as LocalDaemonServiceStatus,
        http_endpoint as http_endpoint,
    )
    from plugin_core.backends.ray_serve import (
        RayActorOptions as RayActorOptions,
        RayClusterError as RayClusterError,
        RayServeEndpoint as RayServeEndpoint,
        RayServeService as RayServeService,
        RayServeServiceConfig as RayServeServiceConfig,
        RayServeServiceStatus as RayServeServiceStatus,
    )
    from plugin_core.definitions import (
        load_service as load_service,
    )
    from plugin_core.errors import (
        BackendError as BackendError,
        ConcurrentUpdateError as ConcurrentUpdateError,
        ConfigError as ConfigError,
        ContainerEngineError as ContainerEngineError,
        CorruptRecordError as CorruptRecordError,
        DaemonSpawnError as DaemonSpawnError,
        DuplicateServiceError as DuplicateServiceError,
        LifecycleError as LifecycleError,
        OutliveError as OutliveError,
        PortInUseError as PortInUseError,
        RegistryError as RegistryError,
        ServiceConfigConflictError as ServiceConfigConflictError,
        ServiceFailedError as ServiceFailedError,
        ServiceNotFoundError as ServiceNotFoundError,
        ServiceOnOtherHostError as ServiceOnOtherHostError,
        StartTimeoutError as StartTimeoutError,
        UnknownServiceTypeError as UnknownServiceTypeError,
    )
    from plugin_core.events import (
        EventLog as EventLog,
        EventOutcome as EventOutcome,
        EventRecorder as EventRecorder,
        ServiceEvent as ServiceEvent,
    )
    from plugin_core.lifecycle import (
        delete_service as delete_service,
        find_services as find_services,
        get_service as get_service,
        start_service as start_service,
        stop_service as stop_service,
        update_service as update_service,
        wait_for_service as wait_for_service,
    )
    from plugin_core.model.config import (
        ServiceConfig as ServiceConfig,
    )
    from plugin_core.model.endpoint import (
        BaseServiceEndpoint as BaseServiceEndpoint,
        ServiceEndpointConfig as ServiceEndpointConfig,
        ServiceEndpointProtocol as ServiceEndpointProtocol,
        ServiceEndpointStatus as ServiceEndpointStatus,
    )
    from plugin_core.model.monitors import (
        BaseServiceEndpointHealthMonitor as BaseServiceEndpointHealthMonitor,
        BaseServiceEndpointHealthMonitorConfig as BaseServiceEndpointHealthMonitorConfig,
        HTTPEndpointHealthMonitor as HTTPEndpointHealthMonitor,
        HTTPEndpointHealthMonitorConfig as HTTPEndpointHealthMonitorConfig,
        ProbeResult as ProbeResult,
        ServiceEndpointHealthMonitorConfig as ServiceEndpointHealthMonitorConfig,
        TCPEndpointHealthMonitor as TCPEndpointHealthMonitor,
        TCPEndpointHealthMonitorConfig as TCPEndpointHealthMonitorConfig,
    )
    from plugin_core.model.probe_policy import (
        ProbePolicy as ProbePolicy,
    )
    from plugin_core.model.restart import (
        RestartPolicy as RestartPolicy,
    )
    from plugin_core.model.service_type import (
        ServiceType as ServiceType,
    )
    from plugin_core.model.state import (
        ServiceState as ServiceState,
    )
    from plugin_core.model.status import (
        ServiceStatus as ServiceStatus,
    )
    from plugin_core.model.typed import (
        BaseTypedModel as BaseTypedModel,
    )
    from plugin_core.paths import (
        outlive_home as outlive_home,
    )
    from plugin_core.prune import (
        PruneReport as PruneReport,
        prune_services as prune_services,
    )
    from plugin_core.registry.store import (
        ServiceRecord as ServiceRecord,
        ServiceRegistry as ServiceRegistry,
    )
    from plugin_core.service import (
        BaseDeploymentService as BaseDeploymentService,
        BaseService as BaseService,
        update_service_status as update_service_status,
    )
    from plugin_core.snapshots import (
        ServiceSnapshot as ServiceSnapshot,
        await_service_active as await_service_active,
        check_service_once as check_service_once,
        service_info as service_info,
    )
    from plugin_core.waiting import (
        await_until as await_until,
        wait_until as wait_until,
    )
    from plugin_core.watch import (
        LogSink as LogSink,
        Watcher as Watcher,
        WebhookSink as WebhookSink,
        watch_service as watch_service,
    )
    from plugin_core.workflow.client import (
        AsyncWorkflowClient as AsyncWorkflowClient,
        WorkflowClient as WorkflowClient,
    )
    from plugin_core.workflow.config import (
        WorkflowServiceConfig as WorkflowServiceConfig,
        workflow_env as workflow_env,
    )
    from plugin_core.workflow.errors import (
        TaskNotFoundError as TaskNotFoundError,
        WorkflowBusyError as WorkflowBusyError,
        WorkflowLoadError as WorkflowLoadError,
        WorkflowServiceError as WorkflowServiceError,
        WorkflowTaskError as WorkflowTaskError,
    )
    from plugin_core.workflow.executor import (
        current_task as current_task,
    )
    from plugin_core.workflow.models import (
        SessionState as SessionState,
        TaskRecord as TaskRecord,
        TaskState as TaskState,
    )
    from plugin_core.workflow.service import (
        WorkflowService as WorkflowService,
    )
    from plugin_core.workflow.session import (
        SessionStore as SessionStore,
    )
