"""The public surface users rely on, and the boundaries between layers."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"{statement}\nimport sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_is_lean() -> None:
    """Importing plugin_core pulls in no database, HTTP, container or orchestrator library."""
    heavy = {"sqlalchemy", "requests", "docker", "fastapi", "prefect", "airflow", "psutil",
             "click", "rich"}
    loaded = {name.split(".")[0] for name in modules_after("import plugin_core")}
    assert sorted(heavy & loaded) == []


def test_importing_the_services_defers_what_only_use_needs() -> None:
    """Defining the service classes (every DAG parse, every flow file) loads neither pydantic's
    serializers (our models mark duck-typed fields with DuckSerialized, not SerializeAsAny,
    whose module costs 8.8 M instructions: bench/bench_import.py) nor the state judgement,
    which the first look at a service loads, nor what only a launch or a new endpoint uses
    (file writing, the loadability check, the command's templating, the endpoint builder)."""
    loaded = modules_after("from plugin_core import LocalDaemonService, CommandService")
    assert "plugin_core.backends.command" in loaded
    assert "pydantic.functional_serializers" not in loaded
    assert "plugin_core.observation" not in loaded
    launch_only = ("plugin_core.paths", "plugin_core.backends.loadable",
                   "plugin_core.backends.templating", "plugin_core.backends.endpoints")
    assert not loaded & set(launch_only)
    used = modules_after(
        "from plugin_core import CommandService\n"
        "from plugin_core.hosts import this_host\n"
        "assert this_host().describe() and CommandService.http('x', ['true']).status.owner_host is None"
    )
    assert "plugin_core.observation" in used


def test_core_never_imports_orchestrators() -> None:
    """Layer boundary: no module of plugin_core mentions prefect or airflow imports."""
    from pathlib import Path

    root = Path(plugin_core.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for banned in ("import prefect", "from prefect", "import airflow", "from airflow"):
            assert banned not in text, f"{path} imports an orchestrator"


def test_each_package_lists_its_names_once_and_loads_them_on_use() -> None:
    """``__all__`` comes from the one ``lazy_exports`` block (each name of plugin_core loads:
    see above), an unknown name is an AttributeError naming the package, and importing the
    packages loads none of the modules they name."""
    import plugin_core.workflow

    for package in (plugin_core, plugin_core.workflow):
        assert len(package.__all__) == len(set(package.__all__)), package.__name__
        assert set(package.__all__) <= set(dir(package))
        with pytest.raises(AttributeError, match=f"module '{package.__name__}' has no attribute"):
            package.NoSuchName  # noqa: B018
    code = "import sys, plugin_core.workflow; print(sorted(m for m in sys.modules if m.startswith('plugin_core.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['plugin_core._lazy', 'plugin_core.workflow']"


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


# -- the backend contract's layers ----------------------------------------------------------------

BACKENDS = Path(plugin_core.__file__).parent / "backends"
#: What every backend may import: the contract and the helpers it offers for reuse.
SHARED = {"contract", "runtime_dir", "templating", "loadable", "endpoints"}
#: A backend and the private modules that serve it alone. A module not listed here (a new
#: backend) is a family of its own.
FAMILIES = {
    "supervised": {"supervised", "_supervisor"},
    "local": {"local", "in_process", "_daemon"},
    "command": {"command"},
    "container": {"container", "_container_args", "_docker_engine", "_container_entrypoint"},
    "ray_serve": {"ray_serve", "_serve_api", "_serve_logs", "_serve_model", "_serve_state"},
}
#: Where the lifecycle's decisions are made: they reach backends through the contract only.
CONTRACT_USERS = ("lifecycle.py", "prune.py", "snapshots.py", "health.py", "hosts.py", "cli")


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """Every import in ``path`` (function-level ones too) as (module, imported names)."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def _family(module: str) -> str:
    for family, members in FAMILIES.items():
        if module in members:
            return family
    return "shared" if module in SHARED else module


def _backend_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(backend module, names) for each import of a module under ``plugin_core.backends``; a
    ``from plugin_core.backends import X`` counts as importing module X."""
    found = []
    for module, names in _imports(path):
        if module == "plugin_core.backends":
            found.extend((name, []) for name in names)
        elif module.startswith("plugin_core.backends."):
            found.append((module.split(".")[2], names))
    return found


def test_no_backend_imports_another_backends_private_names() -> None:
    """A backend uses another one's public names only (a subclass of LocalDaemonService is
    fine; its ``_module_root`` is not), and never another backend's private module."""
    problems = []
    for path in BACKENDS.glob("*.py"):
        mine = _family(path.stem)
        for module, names in _backend_imports(path):
            theirs = _family(module)
            if theirs in (mine, "shared"):
                continue
            if module.startswith("_"):
                problems.append(f"{path.name} imports {theirs}'s private module {module}")
            problems += [f"{path.name} imports {module}.{n}" for n in names if n.startswith("_")]
    assert problems == []


def test_the_contract_and_its_helpers_depend_on_no_backend() -> None:
    for name in SHARED:
        used = {module for module, _ in _backend_imports(BACKENDS / f"{name}.py")}
        assert used <= SHARED, (name, used - SHARED)


def test_the_lifecycle_reaches_backends_through_the_contract_only() -> None:
    """lifecycle, prune, snapshots, health, hosts and the CLI import no backend module and
    read no backend field by name (``getattr(service.config, ...)``): a backend that names
    its fields differently loses nothing."""
    root = Path(plugin_core.__file__).parent
    paths = [p for name in CONTRACT_USERS for p in ([root / name] if name.endswith(".py")
                                                      else sorted((root / name).rglob("*.py")))]
    for path in paths:
        used = {module for module, _ in _backend_imports(path)}
        assert used <= SHARED, (path.name, used - SHARED)
        text = path.read_text()
        for pattern in (r"getattr\(\s*\w*\.?config\b", r"getattr\(\s*\w*\.?status\b"):
            assert not re.search(pattern, text), (path.name, pattern)


def test_prefect_and_airflow_adapters_do_not_import_each_other() -> None:
    root = Path(plugin_core.__file__).parent.parent
    for package, other in (("prefect_ext", "airflow_ext"), ("airflow_ext", "prefect_ext")):
        for path in (root / package).rglob("*.py"):
            modules = {module.split(".")[0] for module, _ in _imports(path)}
            assert other not in modules, f"{path} imports {other}"


def test_lazy_exports_defers_from_imports_and_refuses_the_rest() -> None:
    """What a package built on lazy_exports gets: the name is promised, loaded on first use
    and then cached; an import it cannot defer fails loudly instead of running eagerly."""
    import json

    namespace: dict[str, object] = {"__name__": "pkg", "lazy_exports": plugin_core.lazy_exports}
    exec("with lazy_exports(globals()):\n    from json import dumps as dumps\n", namespace)
    assert namespace["__all__"] == ["dumps"] and "dumps" not in namespace
    assert namespace["__getattr__"]("dumps") is json.dumps  # type: ignore[operator]
    assert namespace["dumps"] is json.dumps
    with pytest.raises(ImportError, match=r"not an import of 'json'"):
        exec("with lazy_exports(globals()):\n    import json\n", namespace)
    assert __import__("json") is json  # the real import is back after the block
