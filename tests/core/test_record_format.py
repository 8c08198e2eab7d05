"""Stored records name classes by registered type names and carry a format version.

Records and ``service.json`` files written by outlive 0.1.0 (tests/fixtures, made by
``make_registry_010.py`` with the released code) still load; a record from a newer outlive
is refused with the fix; and moving a class between modules breaks no stored record.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from plugin_core import (
    BaseService,
    CommandService,
    ConfigError,
    CorruptRecordError,
    LocalDaemonService,
    LocalDaemonServiceStatus,
    ServiceRegistry,
    TCPEndpointHealthMonitor,
)
from plugin_core.backends.supervised import SupervisedServiceStatus
from plugin_core.model import type_names
from plugin_core.model.typed import RECORD_FORMAT
from tests.fixtures.legacy_services import TickConfig, TickDaemon

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOT = FIXTURES.parents[1]


def legacy_registry(tmp_path: Path) -> ServiceRegistry:
    """A private copy of the registry outlive 0.1.0 wrote."""
    db = tmp_path / "registry_010.db"
    shutil.copyfile(FIXTURES / "registry_010.db", db)
    return ServiceRegistry(f"sqlite:///{db}")


class TestRecordsOf010:
    def test_every_kind_of_record_written_by_0_1_0_loads(self, tmp_path: Path) -> None:
        registry = legacy_registry(tmp_path)
        found = {s.config.service_name: s for s in registry.find()}
        assert registry.corrupt_records == []
        assert {name: type(s).__name__ for name, s in found.items()} == {
            "legacy-web": "CommandService",
            "legacy-tick": "TickDaemon",
            "legacy-nginx": "ContainerService",
            "legacy-flow": "WorkflowService",
            "legacy-serve": "RayServeService",
        }
        web = found["legacy-web"]
        assert web.type == "outlive.command" and web.config.type == "outlive.command-config"
        assert web.status.exit_code == -15 and web.config.labels == {"team": "ml"}
        tick = found["legacy-tick"]
        assert isinstance(tick.config, TickConfig) and tick.config.interval == 0.5
        assert tick.endpoint is not None and isinstance(tick.endpoint.monitor, TCPEndpointHealthMonitor)

    def test_a_rewritten_0_1_0_record_is_stored_by_name_in_the_current_format(
        self, tmp_path: Path
    ) -> None:
        registry = legacy_registry(tmp_path)
        web = registry.get("legacy-web")
        web.config.description = "saved again"
        registry.save(web)
        db = sqlite3.connect(tmp_path / "registry_010.db")
        rows = dict(db.execute("SELECT name, record_format FROM outlive_services").fetchall())
        assert rows["legacy-web"] == RECORD_FORMAT and rows["legacy-tick"] == 1
        stored_type, config = db.execute(
            "SELECT type, config FROM outlive_services WHERE name = 'legacy-web'"
        ).fetchone()
        assert stored_type == "outlive.command"
        assert json.loads(config)["type"] == "outlive.command-config"
        assert ServiceRegistry(registry.url).get("legacy-web").config.description == "saved again"

    def test_find_by_type_matches_old_and_new_names(self, tmp_path: Path) -> None:
        registry = legacy_registry(tmp_path)
        registry.save(CommandService.http("new-web", "true"))
        for asked in ("outlive.command", "plugin_core.backends.command.CommandService"):
            names = {s.config.service_name for s in registry.find(type=asked)}
            assert names == {"legacy-web", "new-web"}, asked

    def test_a_daemons_service_json_written_by_0_1_0_loads(self) -> None:
        text = (FIXTURES / "service_010.json").read_text()
        assert '"_format"' not in text and '"tests.fixtures.legacy_services.TickDaemon"' in text
        daemon = LocalDaemonService.from_json(text)
        assert type(daemon) is TickDaemon and daemon.config.service_name == "legacy-tick"
        # 0.1.0 stored LocalDaemonServiceStatus by its import path; that name is now ZenML's
        # alias of the supervised status, which is what the record loads as and is stored as.
        assert type(daemon.status) is LocalDaemonServiceStatus is SupervisedServiceStatus
        assert daemon.status.type == "outlive.supervised-status"

    @pytest.mark.parametrize(
        ("stored", "alias"),
        [
            ("outlive.local-daemon-status", "LocalDaemonServiceStatus"),
            ("outlive.local-daemon-endpoint", "LocalDaemonServiceEndpoint"),
            ("outlive.local-daemon-endpoint-config", "LocalDaemonServiceEndpointConfig"),
            ("outlive.local-daemon-endpoint-status", "LocalDaemonServiceEndpointStatus"),
        ],
    )
    def test_names_stored_for_the_zenml_aliases_still_load(self, stored: str, alias: str) -> None:
        """Format-2 records written while these were subclasses name them; they load as the
        class the ZenML name now stands for."""
        import plugin_core

        cls = getattr(plugin_core, alias)
        model = cls.model_validate({"type": stored})
        assert type(model) is cls and model.type == type_names.type_name_of(cls) != stored


class TestFormatVersion:
    def test_a_document_carries_its_format_and_loads_back(self) -> None:
        service = CommandService.http("a", "true")
        document = json.loads(service.to_json())
        assert document["_format"] == RECORD_FORMAT and document["type"] == "outlive.command"
        assert BaseService.from_dict(document) == service
        assert BaseService.model_validate(document) == service

    def test_a_document_from_a_newer_outlive_is_refused_with_the_fix(self) -> None:
        document = json.loads(CommandService.http("a", "true").to_json())
        document["_format"] = RECORD_FORMAT + 1
        with pytest.raises(ConfigError) as raised:
            BaseService.from_json(json.dumps(document))
        message = str(raised.value)
        assert f"record format {RECORD_FORMAT + 1}" in message
        assert f"reads formats 1 to {RECORD_FORMAT}" in message and "pip install -U outlive" in message

    @pytest.mark.parametrize("bad", ["2", 0, None, 2.0])
    def test_a_malformed_format_is_named(self, bad: object) -> None:
        document = {**json.loads(CommandService.http("a", "true").to_json()), "_format": bad}
        with pytest.raises(ConfigError, match="_format="):
            BaseService.from_dict(document)

    def test_a_row_from_a_newer_outlive_is_quarantined_not_condemned(self, outlive_home: Path) -> None:
        registry = ServiceRegistry()
        registry.save(CommandService.http("old", "true"))
        registry.save(CommandService.http("future", "true"))
        with sqlite3.connect(outlive_home / "registry.db") as db:
            db.execute("UPDATE outlive_services SET record_format = 9 WHERE name = 'future'")
        assert [s.config.service_name for s in registry.find()] == ["old"]
        (error,) = registry.corrupt_records
        assert isinstance(error, CorruptRecordError) and error.service_name == "future"
        assert "record format 9" in str(error) and "pip install -U outlive" in str(error)
        assert "outlive delete" not in str(error)  # the record is fine: never advise deleting it

    def test_a_type_name_from_a_newer_outlive_says_to_upgrade(self) -> None:
        document = CommandService.http("a", "true").to_dict()
        document["type"] = "outlive.teleporter"
        with pytest.raises(ConfigError, match="newer outlive"):
            BaseService.from_dict(document)


class TestTypeNames:
    def test_every_builtin_name_finds_its_class_where_the_table_says(self) -> None:
        for name, location in type_names.BUILTIN_TYPES.items():
            cls = type_names.resolve_type(name)
            assert f"{cls.__module__}:{cls.__qualname__}" == location
            assert type_names.type_name_of(cls) == name

    def test_every_model_class_of_outlive_has_a_registered_name(self) -> None:
        """A model class added to plugin_core without a line in BUILTIN_TYPES would be stored
        by its import path, and moving it would break its records."""
        import importlib
        import pkgutil

        import plugin_core

        for module in pkgutil.walk_packages(plugin_core.__path__, "plugin_core."):
            if module.name.endswith("__main__") or ".migrations" in module.name:
                continue
            try:
                importlib.import_module(module.name)
            except ModuleNotFoundError as missing:  # an extra's package, not installed here
                assert not (missing.name or "").startswith("plugin_core"), missing
        unnamed = [
            name for cls, name in type_names.NAME_BY_CLASS.items()
            if cls.__module__.startswith("plugin_core.") and not name.startswith("outlive.")
        ]
        assert unnamed == []

    def test_every_0_1_0_import_path_still_resolves(self) -> None:
        retired = type_names.RETIRED_TYPES
        assert set(type_names.LEGACY_TYPES.values()) <= set(type_names.BUILTIN_TYPES) | set(retired)
        assert set(retired.values()) <= set(type_names.BUILTIN_TYPES)
        for old, name in type_names.LEGACY_TYPES.items():
            assert type_names.type_name_of(type_names.resolve_type(old)) == retired.get(name, name)

    def test_an_unregistered_subclass_keeps_its_import_path(self) -> None:
        assert TickDaemon(config=TickConfig(name="t")).type == "tests.fixtures.legacy_services.TickDaemon"

    def test_a_declared_name_nobody_publishes_is_refused_where_the_class_is_defined(self) -> None:
        with pytest.raises(ConfigError, match=r"entry-points\.\"outlive\.services\""):

            class Unpublished(CommandService, type_name="acme.unpublished"):
                pass

    def test_outlive_names_are_reserved(self) -> None:
        with pytest.raises(ConfigError, match="outlive's own"):

            class Impostor(CommandService, type_name="outlive.command"):
                pass


PACKAGE_V1 = {
    "shop/__init__.py": "",
    "shop/servers.py": """
        from plugin_core import CommandService, CommandServiceConfig

        class ShopConfig(CommandServiceConfig, type_name="shop.server-config"):
            pass  # a service's part: named without an entry point of its own

        class ShopServer(CommandService, type_name="shop.server"):
            config: ShopConfig
    """,
}
PACKAGE_V2 = {  # the class moved to another module; servers.py is gone
    "shop/__init__.py": "",
    "shop/serving/__init__.py": "",
    "shop/serving/http.py": """
        from plugin_core import CommandService, CommandServiceConfig

        class ShopConfig(CommandServiceConfig, type_name="shop.server-config"):
            pass  # a service's part: named without an entry point of its own

        class ShopServer(CommandService, type_name="shop.server"):
            config: ShopConfig
    """,
}
SAVE = """
import sys
from shop.servers import ShopConfig, ShopServer
from plugin_core import ServiceRegistry
ServiceRegistry(sys.argv[1]).save(ShopServer(config=ShopConfig(name="shop", command="true")))
"""
LOAD = """
import sys
from plugin_core import ServiceRegistry
service = ServiceRegistry(sys.argv[1]).get("shop")
print(type(service).__module__, service.type, service.config.type)
"""


def install(site: Path, files: dict[str, str], entry_point: str) -> None:
    """The package as pip leaves it: its modules and a dist-info with its entry point."""
    shutil.rmtree(site, ignore_errors=True)
    for name, text in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    info = site / "shop-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shop\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[outlive.services]\nshop.server = {entry_point}\n")


def run(code: str, site: Path, url: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", code, url], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_moving_a_class_between_modules_is_a_code_change_only(tmp_path: Path) -> None:
    """A package's class, saved by version 1, moves to another module in version 2 (its entry
    point follows it): the record written by version 1 loads into the moved class."""
    site, url = tmp_path / "site", f"sqlite:///{tmp_path / 'registry.db'}"
    install(site, PACKAGE_V1, "shop.servers:ShopServer")
    run(SAVE, site, url)
    install(site, PACKAGE_V2, "shop.serving.http:ShopServer")
    assert run(LOAD, site, url) == "shop.serving.http shop.server shop.server-config"


def test_moving_one_of_outlives_classes_is_a_code_change_only(tmp_path: Path) -> None:
    """CommandService moves to another module (a copy of plugin_core where
    ``backends/command.py`` becomes ``backends/process_command.py``, every import and the one
    line of the type-name table following it): a record this outlive wrote and the 0.1.0
    records, which name the old module, load into the moved class."""
    registry = legacy_registry(tmp_path)
    registry.save(CommandService.http("new-web", "true"))
    site = tmp_path / "site"
    shutil.copytree(ROOT / "plugin_core", site / "plugin_core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    backends = site / "plugin_core" / "backends"
    (backends / "command.py").rename(backends / "process_command.py")
    for source in (site / "plugin_core").rglob("*.py"):
        text = source.read_text()
        if source.name == "type_names.py":  # the table moves; what 0.1.0 stored stays as it was
            moved = text.replace('"plugin_core.backends.command:', '"plugin_core.backends.process_command:')
        else:
            moved = text.replace("plugin_core.backends.command", "plugin_core.backends.process_command")
        source.write_text(moved)
    load = (
        "import sys\nfrom plugin_core import ServiceRegistry\n"
        "registry = ServiceRegistry(sys.argv[1])\n"
        "for name in ('legacy-web', 'new-web'):\n"
        "    service = registry.get(name)\n"
        "    print(name, type(service).__module__, service.type, service.config.type)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", load, registry.url], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{name} plugin_core.backends.process_command outlive.command outlive.command-config"
        for name in ("legacy-web", "new-web")
    ]
