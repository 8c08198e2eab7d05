"""The ``outlive`` CLI, checked as a user would: real services, real HTTP, real exit codes.

Most tests drive the click app in-process with ``CliRunner`` (fast, same code path);
``TestInstalledScript`` runs the installed console script in a subprocess, the way a
person at a terminal or a shell script does. Every test gets a private ``OUTLIVE_HOME``
(the autouse ``outlive_home`` fixture in ``tests/conftest.py`` sets it with monkeypatch),
so nothing touches the user's registry, and leftover services are stopped after it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from plugin_core.cli import app
from plugin_core.processes import identity_of
from tests.conftest import http_get

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WEB_YAML = REPO / "examples" / "web.yaml"
# The console script of the environment running the tests (the nox session's venv).
OUTLIVE = Path(sys.executable).parent / "outlive"


def outlive(*args: str) -> Result:
    """Run one CLI command in-process."""
    return CliRunner().invoke(app, list(args))


def write_definition(tmp_path: Path, name: str, command: list[str], **endpoint: Any) -> Path:
    """A command-service definition file (JSON is valid YAML, and load_service reads both)."""
    definition = {
        "type": "command",
        "config": {"name": name, "command": command, "stop_grace_period": 2},
        "endpoint": {"protocol": "http", "health": "/", **endpoint},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(definition))
    return path


def web_definition(tmp_path: Path, name: str = "web", *extra: str) -> Path:
    """An http.server service under this interpreter, with an automatically allocated port."""
    command = [sys.executable, "-m", "http.server", "{port}", "--bind", "{host}", *extra]
    return write_definition(tmp_path, name, command)


def info_of(name: str) -> dict[str, Any]:
    result = outlive("status", name, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# -- mistakes a user makes: clear message, non-zero exit, no traceback -------------------------


@pytest.mark.parametrize(
    "command",
    [["status", "nope"], ["logs", "nope"], ["wait", "nope"], ["stop", "nope"], ["delete", "nope"]],
)
def test_unknown_name_is_a_clear_error_with_exit_code_3(command: list[str]) -> None:
    result = outlive(*command)
    assert result.exit_code == 3
    assert "No service named or with uuid 'nope'" in result.stderr
    assert "outlive list" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


WEB_TEXT = WEB_YAML.read_text()


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (WEB_TEXT.replace("port: 8000 ", "port: -1 "), ["endpoint.config.port", "greater than"]),
        (WEB_TEXT.replace("protocol: http", "protocol: ftp"), ["protocol", "'ftp'", "'http'"]),
        (
            WEB_TEXT.replace(
                'command: [python3, -m, http.server, "{port}", --bind, "{host}"]', "command: []"
            ),
            ["config.command", "non-empty list"],
        ),
        (WEB_TEXT.replace("name: web", "nmae: web"), ["config.nmae", "config"]),
        (WEB_TEXT.replace("type: command", "type: no.such.Kind"), ["no.such.Kind"]),
        ("type: command\nconfig: {name: x, command: [a, b}\n", ["neither valid JSON nor YAML"]),
        ("- just\n- a list\n", ["must be a mapping with `type` and `config`"]),
    ],
    ids=[
        "negative-port",
        "unknown-protocol",
        "empty-command",
        "unknown-field",
        "unknown-type",
        "bad-yaml",
        "not-a-mapping",
    ],
)
def test_bad_definition_names_file_and_field(
    tmp_path: Path, broken: str, expected: list[str]
) -> None:
    assert broken != WEB_TEXT
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = outlive("start", str(path))
    assert result.exit_code == 2, result.output
    assert str(path) in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert "Traceback" not in result.output
    assert outlive("list", "--json").stdout.strip() == "[]"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = outlive("start", str(tmp_path / "absent.yaml"))
    assert result.exit_code == 2
    assert "absent.yaml: no such file" in result.stderr


def test_empty_registry_lists_nothing() -> None:
    assert outlive("list", "--json").stdout.strip() == "[]"
    result = outlive("list")
    assert result.exit_code == 0
    assert "no services registered" in result.stderr


# -- the lifecycle through the CLI -------------------------------------------------------------


def test_start_wait_stop_with_json_output(tmp_path: Path) -> None:
    """--json prints one parseable document; the service answers, then is gone after stop."""
    started = outlive("start", str(web_definition(tmp_path)), "--json")
    assert started.exit_code == 0, started.output
    info = json.loads(started.stdout)
    assert info["name"] == "web"
    assert info["state"] == "active"
    assert http_get(info["url"])[0] == 200

    waited = outlive("wait", "web", "--timeout", "5", "--json")
    assert waited.exit_code == 0, waited.output
    assert json.loads(waited.stdout)["state"] == "active"

    stopped = outlive("stop", "web", "--json")
    assert stopped.exit_code == 0, stopped.output
    assert json.loads(stopped.stdout)["state"] == "inactive"
    assert identity_of(info["pid"]) is None or not _is_ours(info["pid"], info["uuid"])
    with pytest.raises(OSError):
        http_get(info["url"], timeout=1)


def _is_ours(pid: int, service_uuid: str) -> bool:
    try:
        return service_uuid.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def test_start_again_reuses_and_on_change_fail_refuses(tmp_path: Path) -> None:
    first = json.loads(outlive("start", str(web_definition(tmp_path)), "--json").stdout)
    again = json.loads(outlive("start", str(web_definition(tmp_path)), "--json").stdout)
    assert again["uuid"] == first["uuid"]
    assert again["pid"] == first["pid"], "the same definition must reuse the running service"

    changed = web_definition(tmp_path, "web", "--directory", str(tmp_path))
    refused = outlive("start", str(changed), "--on-change", "fail")
    assert refused.exit_code == 4
    assert "different config" in refused.stderr
    assert info_of("web")["pid"] == first["pid"]


def test_start_timeout_shows_reason_probe_and_log_tail(tmp_path: Path) -> None:
    """A service that never answers: exit 4 after the timeout, the last probe and the log tail."""
    script = "import time; print('loading weights', flush=True); time.sleep(60)"
    path = write_definition(tmp_path, "slow", [sys.executable, "-c", script])
    result = outlive("start", str(path), "--timeout", "1.5")
    assert result.exit_code == 4
    assert "did not become active within 1.5s" in result.stderr
    assert "last health check:" in result.stderr
    assert "connection refused" in result.stderr
    assert "loading weights" in result.stderr
    assert "Traceback" not in result.output
    assert info_of("slow")["state"] == "pending_startup"


def test_crash_shows_exit_code_and_log_tail(tmp_path: Path) -> None:
    script = "import sys; print('model file missing', file=sys.stderr); sys.exit(3)"
    path = write_definition(tmp_path, "crash", [sys.executable, "-c", script])
    result = outlive("start", str(path), "--timeout", "10")
    assert result.exit_code == 4
    assert "exit code 3" in result.stderr
    assert "model file missing" in result.stderr
    status = outlive("status", "crash")
    assert "ERROR" in status.stdout
    assert "model file missing" in status.stdout  # the log tail is part of status on failure


def test_update_restarts_with_new_definition_and_checks_the_name(tmp_path: Path) -> None:
    first = json.loads(outlive("start", str(web_definition(tmp_path)), "--json").stdout)
    changed = web_definition(tmp_path, "web", "--directory", str(tmp_path))
    updated = outlive("update", "web", str(changed))
    assert updated.exit_code == 0, updated.output
    info = info_of("web")
    assert info["state"] == "active"
    assert info["pid"] != first["pid"]
    (tmp_path / "marker.txt").write_text("served from tmp_path")
    assert http_get(info["url"] + "/marker.txt")[1] == "served from tmp_path"

    other = outlive("update", "web", str(web_definition(tmp_path, "other")))
    assert other.exit_code == 2
    assert "defines service 'other', not 'web'" in other.stderr


def test_delete_stops_and_forgets(tmp_path: Path) -> None:
    info = json.loads(outlive("start", str(web_definition(tmp_path)), "--json").stdout)
    result = outlive("delete", "web")
    assert result.exit_code == 0, result.output
    assert outlive("list", "--json").stdout.strip() == "[]"
    assert not Path(info["runtime_path"]).exists()
    with pytest.raises(OSError):
        http_get(info["url"], timeout=1)


def test_prune_removes_inactive_and_failed_keeps_active_and_live_dirs(
    tmp_path: Path, outlive_home: Path
) -> None:
    outlive("start", str(web_definition(tmp_path, "keep")))
    outlive("start", str(web_definition(tmp_path, "stopped")))
    outlive("stop", "stopped")
    crash = [sys.executable, "-c", "raise SystemExit(1)"]
    outlive("start", str(write_definition(tmp_path, "crashed", crash)), "--timeout", "10")
    services = outlive_home / "services"
    orphan = services / str(uuid.uuid4())
    orphan.mkdir()
    live = services / str(uuid.uuid4())  # no record, but "its" process still runs: keep it
    live.mkdir()  # its definition names the backend that prune asks about what still runs
    (live / "service.json").write_text(json.dumps({"type": "plugin_core.backends.command.CommandService"}))
    me = identity_of(os.getpid())
    assert me is not None
    (live / "state.json").write_text(
        json.dumps({"supervisor_pid": me.pid, "supervisor_token": me.token})
    )

    dry = json.loads(outlive("prune", "--dry-run", "--json").stdout)
    assert sorted(dry["deleted"]) == ["crashed", "stopped"]
    assert orphan.exists()

    result = outlive("prune", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["deleted"]) == ["crashed", "stopped"]
    assert report["swept_dirs"] == [str(orphan)]
    assert not orphan.exists()
    assert live.exists()
    assert [s["name"] for s in json.loads(outlive("list", "--json").stdout)] == ["keep"]


def test_registry_option_selects_another_registry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    started = outlive("--registry", url, "start", str(web_definition(tmp_path)), "--json")
    assert started.exit_code == 0, started.output
    assert outlive("list", "--json").stdout.strip() == "[]"
    listed = json.loads(outlive("--registry", url, "list", "--json").stdout)
    assert [s["name"] for s in listed] == ["web"]
    assert outlive("--registry", url, "delete", "web").exit_code == 0


def test_wait_shows_progress_then_times_out_with_the_last_probe(tmp_path: Path) -> None:
    path = write_definition(
        tmp_path, "sleepy", [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    assert outlive("start", str(path), "--timeout", "0.5").exit_code == 4
    result = outlive("wait", "sleepy", "--timeout", "1")
    assert result.exit_code == 4
    assert "did not become active within 1s" in result.stderr
    assert "connection refused" in result.stderr

    outlive("start", str(web_definition(tmp_path)))
    waited = outlive("wait", "web")
    assert waited.exit_code == 0
    assert "web is active" in waited.stderr
    assert info_of("web")["url"] in waited.stderr


def test_corrupted_record_is_reported_and_can_be_deleted(
    tmp_path: Path, outlive_home: Path
) -> None:
    """One bad row: list still shows the others, status explains, delete --force removes it."""
    outlive("start", str(web_definition(tmp_path, "good")))
    outlive("start", str(web_definition(tmp_path, "bad")))
    outlive("stop", "bad")
    with sqlite3.connect(outlive_home / "registry.db") as db:
        db.execute("UPDATE outlive_services SET config = '{not json' WHERE name = 'bad'")

    listed = outlive("list")
    assert listed.exit_code == 0
    assert "good" in listed.stdout
    assert "'bad'" in listed.stderr
    assert "corrupted" in listed.stderr

    status = outlive("status", "bad")
    assert status.exit_code == 1
    assert "outlive delete bad --force" in status.stderr
    assert "Traceback" not in status.output

    assert outlive("delete", "bad", "--force").exit_code == 0
    assert [s["name"] for s in json.loads(outlive("list", "--json").stdout)] == ["good"]


# -- the installed console script, as a person runs it ----------------------------------------


def run_outlive(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed ``outlive`` script in a subprocess (env carries the test's OUTLIVE_HOME)."""
    return subprocess.run(
        [str(OUTLIVE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


class TestInstalledScript:
    def test_example_web_service_end_to_end(self, outlive_home: Path) -> None:
        assert os.environ["OUTLIVE_HOME"] == str(outlive_home)

        started = run_outlive("start", str(WEB_YAML), "--timeout", "30")
        assert started.returncode == 0, started.stderr
        assert "web started and is active" in started.stderr

        status = run_outlive("status", "web", "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        url = info["url"]
        assert info["state"] == "active"
        assert url.startswith("http://127.0.0.1:")

        listed = run_outlive("list")
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if line.startswith("web "))
        assert "ACTIVE" in row
        assert url in row
        assert "local/command" in row

        code, body = http_get(url + "/")
        assert code == 200
        assert "Directory listing" in body
        assert http_get(url + "/service.log")[0] == 200  # it serves its runtime dir
        with pytest.raises(OSError):
            http_get(url + "/outlive-cli-check")  # a 404 that shows up in the log

        logs = run_outlive("logs", "web", "--tail", "20")
        assert logs.returncode == 0, logs.stderr
        assert '"GET /outlive-cli-check HTTP/1.1" 404' in logs.stdout

        stopped = run_outlive("stop", "web")
        assert stopped.returncode == 0, stopped.stderr
        assert json.loads(run_outlive("status", "web", "--json").stdout)["state"] == "inactive"
        with pytest.raises(OSError):
            http_get(url, timeout=1)
        assert not _is_ours(info["pid"], info["uuid"])

        deleted = run_outlive("delete", "web")
        assert deleted.returncode == 0, deleted.stderr
        assert json.loads(run_outlive("list", "--json").stdout) == []

    def test_unknown_name_and_bad_field(self, tmp_path: Path) -> None:
        missing = run_outlive("status", "ghost")
        assert missing.returncode == 3
        assert "No service named or with uuid 'ghost'" in missing.stderr
        assert "Traceback" not in missing.stderr

        bad = tmp_path / "bad.yaml"
        bad.write_text(WEB_TEXT.replace("port: 8000 ", "port: -80 "))
        result = run_outlive("start", str(bad))
        assert result.returncode == 2
        assert "endpoint.config.port" in result.stderr
        assert "Traceback" not in result.stderr

    def test_logs_follow_streams_until_the_service_stops(self, tmp_path: Path) -> None:
        assert run_outlive("start", str(web_definition(tmp_path))).returncode == 0
        url = json.loads(run_outlive("status", "web", "--json").stdout)["url"]
        follower = subprocess.Popen(
            [str(OUTLIVE), "logs", "web", "--follow", "--tail", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert follower.stdout is not None
            assert follower.stdout.readline()  # the tail line: the follower is now following
            with pytest.raises(OSError):
                http_get(url + "/followed-request")
            assert run_outlive("stop", "web").returncode == 0
            out, err = follower.communicate(timeout=15)
        finally:
            follower.kill()
        assert follower.returncode == 0, err
        assert "GET /followed-request HTTP/1.1" in out
