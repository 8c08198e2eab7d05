"""The public surface users rely on, and the boundaries between layers."""

from __future__ import annotations

import subprocess
import sys

import plugin_core

ZENML_NAMES = {
    "ServiceState", "ServiceStatus", "ServiceType", "ServiceConfig", "BaseService",
    "BaseDeploymentService", "update_service_status", "ServiceEndpointProtocol",
    "ServiceEndpointConfig", "ServiceEndpointStatus", "BaseServiceEndpoint",
    "BaseServiceEndpointHealthMonitor", "HTTPEndpointHealthMonitor", "HTTPEndpointHealthMonitorConfig",
    "TCPEndpointHealthMonitor", "TCPEndpointHealthMonitorConfig", "LocalDaemonService",
    "LocalDaemonServiceConfig", "LocalDaemonServiceStatus", "LocalDaemonServiceEndpoint",
    "LocalDaemonServiceEndpointConfig", "LocalDaemonServiceEndpointStatus",
}
OURS = {
    "CommandService", "CommandServiceConfig", "RestartPolicy", "ProbePolicy", "ServiceRegistry",
    "OutliveError", "start_service", "stop_service", "update_service", "delete_service",
    "get_service", "find_services", "wait_for_service", "load_service", "service_info",
    "check_service_once", "await_service_active",
}


def test_every_promised_name_is_exported_and_importable() -> None:
    for name in ZENML_NAMES | OURS:
        assert name in plugin_core.__all__, name
        assert getattr(plugin_core, name) is not None


def test_every_error_derives_from_outlive_error() -> None:
    for name in plugin_core.__all__:
        value = getattr(plugin_core, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, plugin_core.OutliveError), name


def test_import_is_lean() -> None:
    """Importing plugin_core pulls in no database, HTTP, container or orchestrator library."""
    code = (
        "import sys, plugin_core; heavy = {'sqlalchemy','requests','docker','fastapi','prefect',"
        "'airflow','psutil','typer','rich'} & {m.split('.')[0] for m in sys.modules}; print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_core_never_imports_orchestrators() -> None:
    """Layer boundary: no module of plugin_core mentions prefect or airflow imports."""
    from pathlib import Path

    root = Path(plugin_core.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for banned in ("import prefect", "from prefect", "import airflow", "from airflow"):
            assert banned not in text, f"{path} imports an orchestrator"


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert sorted(plugin_core.__all__) == sorted(plugin_core._EXPORTS)


def test_adapters_import_only_the_public_core() -> None:
    """Adapters use `plugin_core`'s public names, never its submodules (they may change)."""
    from pathlib import Path

    root = Path(plugin_core.__file__).parent.parent
    for package in ("prefect_ext", "airflow_ext"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            assert "from plugin_core." not in text and "import plugin_core." not in text, path


def test_registry_does_not_depend_on_backends() -> None:
    from pathlib import Path

    for path in (Path(plugin_core.__file__).parent / "registry").rglob("*.py"):
        assert "backends" not in path.read_text(), path
