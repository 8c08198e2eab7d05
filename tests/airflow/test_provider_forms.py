"""The provider as Airflow 3.x reads it: a labelled connection form from the provider info, a
clean `airflow providers` CLI, the `outlive_default` convention, and hook methods for @task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.airflow.conftest import SKIP_REASON

pytest.importorskip("airflow.sdk", reason=SKIP_REASON)

from airflow_ext import get_provider_info
from airflow_ext.hooks import OutliveRegistryHook
from tests.airflow.conftest import AIRFLOW, REPO, http_status


def _airflow_series() -> tuple[int, int]:
    from airflow import __version__

    major, minor = __version__.split(".")[:2]
    return int(major), int(minor)


# Airflow 3.2 reads a connection form from the provider info (`conn-fields`,
# `ui-field-behaviour`); 3.1 only asks hooks, and only with flask_appbuilder/wtforms
# installed, which `pip install apache-airflow==3.1.*` does not bring: there no provider's
# form is labelled (smtp's neither), and the declaration waits for 3.2.
FORMS_FROM_INFO = _airflow_series() >= (3, 2)


def outlive_connection_type() -> dict[str, object]:
    (entry,) = get_provider_info()["connection-types"]
    return entry


class TestConnectionForm:
    def test_provider_info_passes_airflows_own_validation(self) -> None:
        """The providers manager's validator (the schema it ships) accepts the whole info."""
        from airflow.providers_manager import _create_provider_info_schema_validator

        _create_provider_info_schema_validator().validate(get_provider_info())

    def test_labels_and_extra_fields_reach_the_providers_manager(self) -> None:
        """Without wtforms or any hook import, Airflow knows the form's labels and extra fields."""
        from airflow.providers_manager import ProvidersManager

        manager = ProvidersManager()
        if not FORMS_FROM_INFO:
            # Airflow 3.1 knows the connection type and its hook, and has no form for anyone.
            assert manager.hooks["outlive"] is not None
            assert "outlive" not in manager.field_behaviours
            entry = outlive_connection_type()
            assert entry["ui-field-behaviour"]["relabeling"]["host"] == "PostgreSQL host"  # type: ignore[index]
            return
        behaviour = manager.field_behaviours["outlive"]
        widgets = manager.connection_form_widgets

        assert behaviour["relabeling"]["host"] == "PostgreSQL host"
        assert behaviour["relabeling"]["schema"] == "Database"
        assert behaviour["placeholders"]["extra__outlive__path"] == "/var/lib/outlive/registry.db"
        assert widgets["extra__outlive__path"].field["schema"]["title"] == "SQLite registry file"
        assert widgets["extra__outlive__url"].field["schema"]["title"] == "Registry URL"

    def test_the_hook_no_longer_defines_the_deprecated_form_methods(self) -> None:
        """Airflow 3.2 warns about get_ui_field_behaviour on a hook; the info replaces it."""
        assert "get_ui_field_behaviour" not in OutliveRegistryHook.__dict__
        assert "get_connection_form_widgets" not in OutliveRegistryHook.__dict__

    def test_a_form_saved_extra_field_names_the_registry(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The form may store the field prefixed; the hook reads it either way."""
        conn = {"conn_type": "outlive", "extra": {"extra__outlive__path": "/data/reg.db"}}
        monkeypatch.setenv("AIRFLOW_CONN_OUTLIVE_FORM", json.dumps(conn))
        assert OutliveRegistryHook("outlive_form").get_registry_url() == "sqlite:////data/reg.db"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["list"], "outlive"),
        (["get", "outlive"], "outlive"),
        (["hooks"], "airflow_ext.hooks.OutliveRegistryHook"),
        (["behaviours"], "outlive"),
        (["widgets"], "extra__outlive__path"),
        (["links"], "airflow_ext.links.ServiceLink"),
        (["triggers"], "airflow_ext.triggers"),
    ],
)
def test_airflow_providers_commands_show_outlive_without_warnings(
    command: list[str], shown: str, tmp_path: Path
) -> None:
    """What a user runs to inspect providers: outlive appears, and nothing warns or fails."""
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [AIRFLOW, "providers", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = proc.stdout + proc.stderr

    assert proc.returncode == 0, output
    if command[0] in ("behaviours", "widgets") and not FORMS_FROM_INFO:
        assert "outlive" not in output  # 3.1 lists forms only from hooks with wtforms: none
    else:
        assert shown in output
    # Airflow's own packages may warn about each other (3.1's common-compat provider does);
    # nothing may warn or fail about outlive.
    ours = [
        line
        for line in output.splitlines()
        if not ("/site-packages/airflow/" in line and "airflow_ext" not in line)
    ]
    for bad in ("warning", "Traceback", "error"):
        assert not [line for line in ours if bad.lower() in line.lower()], output


class TestDefaultConnection:
    def test_an_undefined_outlive_default_falls_back_and_says_so(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """The convention's connection id, undefined, means the core default, logged as such."""
        assert OutliveRegistryHook().get_registry_url() is None
        logged = "".join(capfd.readouterr())
        assert "Outlive registry: core default sqlite:///" in logged
        assert "(connection outlive_default is not defined)" in logged

    def test_a_defined_outlive_default_is_used(
        self, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """Creating `outlive_default`, as convention suggests, is never silently ignored."""
        conn = {"conn_type": "outlive", "extra": {"path": "/srv/shared/registry.db"}}
        monkeypatch.setenv("AIRFLOW_CONN_OUTLIVE_DEFAULT", json.dumps(conn))
        url = OutliveRegistryHook().get_registry_url()
        assert url == "sqlite:////srv/shared/registry.db"
        assert "(connection outlive_default)" in "".join(capfd.readouterr())

    def test_any_other_undefined_connection_is_an_error(self) -> None:
        """A typo in a named connection must not quietly pick another registry."""
        from airflow_ext._compat import AirflowNotFoundException

        with pytest.raises(AirflowNotFoundException, match="outlive_typo"):
            OutliveRegistryHook("outlive_typo").get_registry_url()

    def test_operators_sensor_and_trigger_default_to_outlive_default(self) -> None:
        """One default everywhere: the hook's."""
        from airflow_ext.operators import PruneServicesOperator, StopServiceOperator
        from airflow_ext.sensors import ServiceActiveSensor
        from airflow_ext.triggers import ServiceActiveTrigger

        assert StopServiceOperator(task_id="s", service_name="x").outlive_conn_id == (
            "outlive_default"
        )
        assert PruneServicesOperator(task_id="p").outlive_conn_id == "outlive_default"
        assert ServiceActiveSensor(task_id="w", service_name="x").outlive_conn_id == (
            "outlive_default"
        )
        assert ServiceActiveTrigger("x").serialize()[1]["outlive_conn_id"] == "outlive_default"


@pytest.mark.integration
class TestHookServiceMethods:
    def test_start_get_stop_delete_and_prune_from_task_code(self, tmp_path: Path) -> None:
        """What a @task does with the hook: a real server starts, answers, stops, goes away."""
        hook = OutliveRegistryHook(None)
        definition = {
            "type": "command",
            "config": {
                "name": "hooked-web",
                "command": [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
            },
            "endpoint": {"protocol": "http", "health": "/"},
        }

        started = hook.start_service(definition, timeout=30)
        seen = hook.get_service("hooked-web")
        stopped = hook.stop_service("hooked-web")
        preview = hook.prune_services(dry_run=True)
        deleted = hook.delete_service("hooked-web")

        assert started["state"] == "active" and seen["uuid"] == started["uuid"]
        assert json.loads(json.dumps(seen)) == seen
        assert stopped is not None and stopped["state"] == "inactive"
        assert http_status(started["url"]) is None
        assert "hooked-web" in preview["deleted"]
        assert deleted is not None and deleted["uuid"] == started["uuid"]
        assert hook.stop_service("hooked-web", ignore_missing=True) is None
        assert hook.delete_service("hooked-web", ignore_missing=True) is None
        assert hook.prune_services()["deleted"] == []
