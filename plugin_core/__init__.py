"""outlive's service core: start, track, health-check and stop services that outlive the run.

Everything public is importable from here, and listed once: the imports in the
``lazy_exports`` block below. Type checkers read them as written; at run time
each name loads on first use (PEP 562, see ``plugin_core._lazy``), so
``import plugin_core`` stays cheap for DAG parsing and CLI start-up, and
SQLAlchemy, psutil, docker and FastAPI are imported only by the code that needs
them. ``lazy_exports`` also derives ``__all__``, ``__getattr__`` and ``__dir__``
from that block.
"""

from __future__ import annotations

from plugin_core._lazy import lazy_exports

__version__ = "0.1.0"

with lazy_exports(globals()):
    # lazy_exports itself serves our Prefect and Airflow adapters, built on this package
    from plugin_core._lazy import lazy_exports as lazy_exports
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
    from plugin_core.definitions import load_service as load_service
    from plugin_core.deployment import BaseDeploymentService as BaseDeploymentService
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
    from plugin_core.model.config import ServiceConfig as ServiceConfig
    from plugin_core.model.endpoint import (
        BaseServiceEndpoint as BaseServiceEndpoint,
        ServiceEndpointConfig as ServiceEndpointConfig,
        ServiceEndpointProtocol as ServiceEndpointProtocol,
        ServiceEndpointStatus as ServiceEndpointStatus,
    )
    from plugin_core.model.monitors import (
        BaseServiceEndpointHealthMonitor as BaseServiceEndpointHealthMonitor,
        BaseServiceEndpointHealthMonitorConfig as BaseServiceEndpointHealthMonitorConfig,
        ProbeResult as ProbeResult,
        ServiceEndpointHealthMonitorConfig as ServiceEndpointHealthMonitorConfig,
    )
    from plugin_core.model.probe_policy import ProbePolicy as ProbePolicy
    from plugin_core.model.restart import RestartPolicy as RestartPolicy
    from plugin_core.model.service_type import ServiceType as ServiceType
    from plugin_core.model.standard_monitors import (
        HTTPEndpointHealthMonitor as HTTPEndpointHealthMonitor,
        HTTPEndpointHealthMonitorConfig as HTTPEndpointHealthMonitorConfig,
        TCPEndpointHealthMonitor as TCPEndpointHealthMonitor,
        TCPEndpointHealthMonitorConfig as TCPEndpointHealthMonitorConfig,
    )
    from plugin_core.model.state import ServiceState as ServiceState
    from plugin_core.model.status import ServiceStatus as ServiceStatus
    from plugin_core.model.typed import BaseTypedModel as BaseTypedModel
    from plugin_core.paths import outlive_home as outlive_home
    from plugin_core.prune import (
        PruneReport as PruneReport,
        prune_services as prune_services,
    )
    from plugin_core.registry.store import (
        ServiceRecord as ServiceRecord,
        ServiceRegistry as ServiceRegistry,
    )
    from plugin_core.service import (
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
    from plugin_core.workflow.executor import current_task as current_task
    from plugin_core.workflow.models import (
        SessionState as SessionState,
        TaskRecord as TaskRecord,
        TaskState as TaskState,
    )
    from plugin_core.workflow.service import WorkflowService as WorkflowService
    from plugin_core.workflow.session import SessionStore as SessionStore
