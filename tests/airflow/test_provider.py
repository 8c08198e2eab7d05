"""Provider metadata: Airflow finds the provider, its hook, connection type, trigger and link."""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from airflow_ext import get_provider_info
from tests.airflow.conftest import AIRFLOW, AirflowEnv


class TestProviderInfo:
    def test_matches_airflow_schema(self) -> None:
        """get_provider_info() validates against the schema Airflow's providers manager uses."""
        import airflow
        import jsonschema

        schema = json.loads(
            Path(airflow.__file__).with_name("provider_info.schema.json").read_text()
        )
        jsonschema.validate(get_provider_info(), schema)

    def test_package_name_is_the_distribution_name(self) -> None:
        """Discovery refuses a provider whose package-name differs from its distribution."""
        from importlib.metadata import distribution

        assert get_provider_info()["package-name"] == distribution("outlive").metadata["Name"]

    def test_every_listed_module_and_class_imports(self) -> None:
        """Each module and class the metadata names exists."""
        info = get_provider_info()
        for kind in ("hooks", "operators", "sensors", "triggers"):
            for entry in info[kind]:
                for module in entry["python-modules"]:
                    importlib.import_module(module)
        for dotted in [c["hook-class-name"] for c in info["connection-types"]] + info[
            "extra-links"
        ]:
            module, _, name = dotted.rpartition(".")
            assert hasattr(importlib.import_module(module), name), dotted

    def test_providers_manager_registers_hook_trigger_and_link(self) -> None:
        """Airflow's providers manager maps conn type "outlive" to the hook, and knows the link."""
        from airflow.providers_manager import ProvidersManager

        manager = ProvidersManager()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3.3 deprecates .hooks in favour of a task-sdk twin
            hook = manager.hooks["outlive"]
        assert hook is not None
        assert hook.hook_class_name == "airflow_ext.hooks.OutliveRegistryHook"
        assert hook.connection_id_attribute_name == "outlive_conn_id"
        assert "airflow_ext.links.ServiceLink" in manager.extra_links_class_names
        assert any(t.package_name == "outlive" for t in manager.trigger)


@pytest.mark.integration
def test_airflow_providers_list_shows_outlive(airflow_env: AirflowEnv) -> None:
    """`airflow providers list` (the CLI a user runs) lists the provider."""
    proc = airflow_env.run(
        [AIRFLOW, "providers", "list", "-o", "json"], timeout=120, log_name="providers"
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '"package_name": "outlive"' in proc.stdout
