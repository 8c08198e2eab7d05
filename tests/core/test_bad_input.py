"""Bad input and corrupt records: a clear one-line error and a documented exit code, never a
traceback, and nothing left running. Real files, real registries, real processes.

Pins issue 17's defects: a row with ``created_at = 'not-a-timestamp'`` broke every listing
and even ``delete --force``; a non-UTF-8 definition, deeply nested JSON, ``ip_address:
not-an-ip``, an address not on this machine, ``OUTLIVE_HOME`` pointing at a regular file and
``--registry sqlite:///<a file>/x.db`` each showed a traceback; a NaN timeout waited forever
and a negative one raised but left the launched service running.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from plugin_core import (
    CommandService,
    ConfigError,
    CorruptRecordError,
    ServiceRegistry,
    find_services,
    load_service,
    start_service,
    stop_service,
    wait_for_service,
)
from plugin_core.cli import app
from plugin_core.processes import marked_processes

pytestmark = pytest.mark.integration

PY = sys.executable
EXIT_ERROR, EXIT_BAD_INPUT = 1, 2


def outlive(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_one_clean_line(result: Result, code: int, *needles: str) -> None:
    """The CLI failed with ``code`` and said why in one ``error:`` line, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def sleeper(name: str) -> CommandService:
    service = CommandService.http(name, [PY, "-c", "import time; time.sleep(600)"], startsecs=0.2)
    service.endpoint = None
    return service


class TestCorruptTimestamp:
    @pytest.fixture
    def corrupt(self, outlive_home: Path) -> None:
        """Two records, one of them with created_at = 'not-a-timestamp'."""
        registry = ServiceRegistry()
        registry.save(sleeper("good"))
        registry.save(sleeper("bad"))
        with sqlite3.connect(outlive_home / "registry.db") as db:
            db.execute("UPDATE outlive_services SET created_at = 'not-a-timestamp' WHERE name = 'bad'")

    @pytest.mark.usefixtures("corrupt")
    def test_find_services_quarantines_the_record(self) -> None:
        registry = ServiceRegistry()
        assert [s.config.service_name for s in find_services(registry=registry)] == ["good"]
        (problem,) = registry.corrupt_records
        assert problem.service_name == "bad"
        assert "created_at" in problem.reason and "not-a-timestamp" in problem.reason
        with pytest.raises(CorruptRecordError, match="outlive delete bad --force"):
            registry.get("bad")

    @pytest.mark.usefixtures("corrupt")
    def test_cli_lists_reports_and_deletes_it(self) -> None:
        listed = outlive("list")
        assert listed.exit_code == 0, listed.output
        assert "good" in listed.stdout and "'bad'" in listed.stderr
        as_json = outlive("list", "--json")
        assert as_json.exit_code == 0
        assert [s["name"] for s in json.loads(as_json.stdout)] == ["good"]
        assert_one_clean_line(outlive("status", "bad"), EXIT_ERROR, "outlive delete bad --force")
        deleted = outlive("delete", "bad", "--force")
        assert deleted.exit_code == 0, deleted.output
        assert outlive("list").stderr == ""

    @pytest.mark.parametrize(
        ("column", "value", "why"),
        [
            ("updated_at", "'yesterday'", "updated_at"),
            ("version", "'seven'", "version"),
            ("status", "'[1, 2'", ""),
            ("config", "'" + "[" * 100000 + "]" * 100000 + "'", ""),
            ("type", "'no.such.module.Service'", "no.such.module"),
            ("admin_state", "'sleepy'", ""),
        ],
    )
    def test_every_malformed_column_is_one_quarantined_record(
        self, outlive_home: Path, column: str, value: str, why: str
    ) -> None:
        registry = ServiceRegistry()
        registry.save(sleeper("good"))
        registry.save(sleeper("bad"))
        with sqlite3.connect(outlive_home / "registry.db") as db:
            db.execute(f"UPDATE outlive_services SET {column} = {value} WHERE name = 'bad'")
        assert [s.config.service_name for s in registry.find()] == ["good"]
        assert [e.service_name for e in registry.corrupt_records] == ["bad"]
        assert why in registry.corrupt_records[0].reason
        assert outlive("delete", "bad", "--force").exit_code == 0
        assert [r.name for r in registry.list_records()] == ["good"]


class TestCliBadInput:
    def test_outlive_home_is_a_regular_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (tmp_path / "plain").write_text("")
        monkeypatch.setenv("OUTLIVE_HOME", str(tmp_path / "plain"))
        assert_one_clean_line(outlive("list"), EXIT_BAD_INPUT, "OUTLIVE_HOME", str(tmp_path / "plain"))

    def test_registry_path_below_a_regular_file(self, tmp_path: Path) -> None:
        (tmp_path / "plain").write_text("")
        url = f"sqlite:///{tmp_path / 'plain' / 'x.db'}"
        assert_one_clean_line(outlive("--registry", url, "list"), EXIT_BAD_INPUT, "--registry")

    def test_definition_that_is_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.yaml"
        path.write_bytes("type: command\nconfig: {name: caf\xe9}\n".encode("latin-1"))
        assert_one_clean_line(outlive("start", str(path)), EXIT_BAD_INPUT, "not UTF-8", "latin1.yaml")

    @pytest.mark.parametrize("deep", ["[" * 100000 + "]" * 100000, '{"a":' * 50000 + "1" + "}" * 50000])
    def test_deeply_nested_json(self, tmp_path: Path, deep: str) -> None:
        path = tmp_path / "deep.json"
        path.write_text(deep)
        assert_one_clean_line(outlive("start", str(path)), EXIT_BAD_INPUT, "nested too deeply")

    def test_deeply_nested_value_inside_a_definition(self, tmp_path: Path) -> None:
        inner = '{"a":' * 3000 + "1" + "}" * 3000
        path = tmp_path / "deep.json"
        path.write_text('{"type": "command", "config": {"name": "d", "labels": ' + inner + "}}")
        result = outlive("start", str(path))
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert "Traceback" not in result.output

    def test_ip_address_that_is_not_one(self, tmp_path: Path) -> None:
        path = tmp_path / "web.json"
        path.write_text(json.dumps({
            "type": "command",
            "config": {"name": "web", "command": [PY, "-m", "http.server", "{port}"]},
            "endpoint": {"protocol": "http", "health": "/", "ip_address": "not-an-ip"},
        }))
        assert_one_clean_line(outlive("start", str(path)), EXIT_BAD_INPUT, "ip_address", "not-an-ip")
        assert outlive("list", "--json").stdout.strip() == "[]"

    @pytest.mark.parametrize(("env", "needle"), [
        ({"A=B": "x"}, "variable name 'A=B'"),
        ({"": "x"}, "variable name ''"),
        ({"NUL\0NAME": "x"}, "is not usable"),
        ({"A": "x\0y"}, "holds a NUL character"),
    ])
    def test_an_environment_the_os_cannot_carry_is_bad_input_and_registers_nothing(
        self, tmp_path: Path, env: dict[str, str], needle: str
    ) -> None:
        """Once an unexpected ValueError from the spawn ("illegal environment variable name",
        "embedded null byte") after the service was registered; now a field error first."""
        path = tmp_path / "env.json"
        path.write_text(json.dumps({
            "type": "command",
            "config": {"name": "envy", "command": [PY, "-m", "http.server", "{port}"], "env": env},
        }))
        assert_one_clean_line(outlive("start", str(path)), EXIT_BAD_INPUT, "config.env", needle)
        assert outlive("list", "--json").stdout.strip() == "[]"

    def test_a_secret_variable_is_checked_without_showing_its_value(self) -> None:
        for secret_env, needle in (({"A=B": "hunter2"}, "config.secret_env: variable name 'A=B'"),
                                   ({"TOKEN": "hun\0ter2"}, "its secret value holds a NUL")):
            with pytest.raises(ConfigError) as info:
                load_service({"type": "command", "config": {
                    "name": "s", "command": ["true"], "secret_env": secret_env}})
            assert needle in str(info.value)
            assert "hunter2" not in str(info.value) and "ter2" not in str(info.value)

    def test_address_not_on_this_machine(self, tmp_path: Path) -> None:
        path = tmp_path / "web.json"
        path.write_text(json.dumps({
            "type": "command",
            "config": {"name": "web", "command": [PY, "-m", "http.server", "{port}"]},
            "endpoint": {"protocol": "http", "health": "/", "ip_address": "192.0.2.77"},
        }))
        result = outlive("start", str(path))
        assert_one_clean_line(result, EXIT_BAD_INPUT, "192.0.2.77", "not an address of this machine")

    @pytest.mark.parametrize("value", ["nan", "inf", "-1"])
    def test_bad_timeouts_are_bad_input(self, value: str) -> None:
        result = outlive("wait", "web", "--timeout", value)
        assert result.exit_code == EXIT_BAD_INPUT, result.output
        assert "Traceback" not in result.output

    def test_unexpected_error_is_one_line_with_a_debug_hint(self, tmp_path: Path) -> None:
        """A bug (here: a service class whose check_status raises) gives one line and the hint;
        --debug gives the traceback."""
        module = tmp_path / "buggy_service.py"
        module.write_text(
            "from plugin_core import CommandService\n"
            "class Buggy(CommandService):\n"
            "    def check_status(self):\n"
            "        raise ZeroDivisionError('oops in check_status')\n"
        )
        definition = tmp_path / "buggy.json"
        definition.write_text(json.dumps({
            "type": "buggy_service.Buggy",
            "config": {"name": "buggy", "command": [PY, "-c", "import time; time.sleep(60)"]},
        }))
        env = {"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}"}
        script = "import sys; from plugin_core.cli import main; sys.argv[0] = 'outlive'; main()"

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            import os

            return subprocess.run(
                [PY, "-c", script, *args], capture_output=True, text=True, timeout=120,
                env={**os.environ, **env}, check=False,
            )

        plain = run("start", str(definition), "--timeout", "5")
        assert plain.returncode == EXIT_ERROR, plain.stderr
        assert "Traceback" not in plain.stderr
        assert "unexpected ZeroDivisionError: oops in check_status" in plain.stderr
        assert "--debug" in plain.stderr
        debug = run("--debug", "status", "buggy")
        assert "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr
        run("delete", "buggy", "--force")


class TestTimeouts:
    def test_nan_timeout_is_refused_before_anything_runs(self) -> None:
        service = sleeper("nan")
        with pytest.raises(ConfigError, match="timeout must be a finite number"):
            start_service(service, timeout=float("nan"))
        assert ServiceRegistry().list_records() == []
        assert marked_processes(str(service.uuid)) == []

    @pytest.mark.parametrize("timeout", [-1.0, float("inf"), float("-inf")])
    def test_bad_start_timeout_leaves_nothing_running(self, timeout: float) -> None:
        service = sleeper("negative")
        with pytest.raises(ConfigError, match="timeout"):
            start_service(service, timeout=timeout)
        assert ServiceRegistry().list_records() == []
        assert marked_processes(str(service.uuid)) == []

    def test_bad_wait_and_stop_timeouts(self) -> None:
        start_service(sleeper("t"), timeout=30)
        for bad in (float("nan"), -0.5):
            with pytest.raises(ConfigError):
                wait_for_service("t", timeout=bad)
            with pytest.raises(ConfigError):
                stop_service("t", timeout=bad)

    @pytest.mark.parametrize(
        ("field", "value"),
        [("stop_grace_period", float("nan")), ("startsecs", float("inf")), ("stop_grace_period", -1)],
    )
    def test_config_durations_are_finite(self, field: str, value: float) -> None:
        with pytest.raises(ConfigError, match=field):
            load_service({"type": "command", "config": {"name": "x", "command": ["true"], field: value}})

    def test_probe_policy_durations_are_finite(self) -> None:
        with pytest.raises(ConfigError, match="startup_timeout"):
            load_service({
                "type": "command",
                "config": {"name": "x", "command": ["true"]},
                "endpoint": {"protocol": "http", "monitor": {"type": "http", "config": {
                    "healthcheck_uri_path": "/", "probe": {"startup_timeout": float("nan")}}}},
            })


class TestNamesAndAddresses:
    @pytest.mark.parametrize(
        "name", ["", "../etc", "a b", "x" * 129, "-lead", "nul\0", "web\n", "ünï", "a/b", "٣"]
    )
    def test_unsafe_names_are_refused(self, name: str) -> None:
        with pytest.raises(ConfigError, match="name"):
            load_service({"type": "command", "config": {"name": name, "command": ["true"]}})

    @pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0", "::1", "localhost"])
    def test_good_addresses(self, address: str) -> None:
        service = load_service({
            "type": "command",
            "config": {"name": "x", "command": ["true"]},
            "endpoint": {"ip_address": address},
        })
        assert service.endpoint is not None and service.endpoint.config.ip_address == address

    @pytest.mark.parametrize(
        "address", ["not-an-ip", "", "a..b", "300.1.1.1", "-x-", "has space", "localhost\n"]
    )
    def test_bad_addresses_name_the_field(self, address: str) -> None:
        with pytest.raises(ConfigError, match="ip_address"):
            load_service({
                "type": "command",
                "config": {"name": "x", "command": ["true"]},
                "endpoint": {"ip_address": address},
            })

    def test_a_trailing_newline_is_no_hostname_even_without_a_lookup(self) -> None:
        """Stored records are checked by syntax only (no DNS): there too "localhost\\n" is refused."""
        from plugin_core.model.addresses import check_address, stored_records

        with stored_records():
            assert check_address("localhost") == "localhost"
            with pytest.raises(ValueError, match="neither an IP address nor a hostname"):
                check_address("localhost\n")

    def test_label_values_must_fit_the_registry(self) -> None:
        with pytest.raises(ConfigError, match="at most 512"):
            load_service({"type": "command", "config": {"name": "x", "command": ["true"], "labels": {"k": "v" * 513}}})
