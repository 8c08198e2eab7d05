"""Truthful events: what each lifecycle call did, once per transition, in the events log; and
a watcher that notices a crash after the run and tells a real webhook receiver."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from plugin_core import (
    CommandService,
    RestartPolicy,
    ServiceConfigConflictError,
    ServiceFailedError,
    StartTimeoutError,
    check_service_once,
    get_service,
    start_service,
    stop_service,
    update_service,
    wait_for_service,
)
from plugin_core.events import EventLog, EventOutcome, EventRecorder
from plugin_core.watch import Watcher, WebhookSink

pytestmark = pytest.mark.integration

PY = sys.executable
HTTP_SERVER = [PY, "-m", "http.server", "{port}", "--bind", "{host}"]


def web(name: str = "web", **config: Any) -> CommandService:
    return CommandService.http(name, HTTP_SERVER, **config)


def slow(name: str, delay: float) -> CommandService:
    code = (
        f"import runpy, sys, time; time.sleep({delay}); "
        "sys.argv = ['http.server', sys.argv[1], '--bind', '127.0.0.1']; "
        "runpy.run_module('http.server', run_name='__main__')"
    )
    return CommandService.http(name, [PY, "-c", code, "{port}"])


def started(service: CommandService, **kwargs: Any) -> list[str]:
    recorder = EventRecorder()
    start_service(service, timeout=30, on_event=recorder, **kwargs)
    return recorder.outcomes


def child_of(name: str) -> psutil.Process:
    """The service's own process (not its supervisor), as ps shows it."""
    return psutil.Process(get_service(name).status.child_pid)


class TestLifecycleSequences:
    def test_fresh_start_reports_started_then_active(self) -> None:
        assert started(web()) == ["started", "active"]

    def test_same_definition_again_reports_reused_only(self) -> None:
        started(web())
        assert started(web()) == ["reused"]

    def test_changed_definition_reports_restarted_then_active(self) -> None:
        started(web())
        assert started(web(description="v2")) == ["restarted", "active"]

    def test_conflict_with_on_change_fail_reports_nothing(self) -> None:
        """The healthy service was left alone: no `failed`, no event at all."""
        started(web())
        recorder = EventRecorder()
        with pytest.raises(ServiceConfigConflictError):
            start_service(web(description="v2"), on_change="fail", on_event=recorder)
        assert recorder.outcomes == []
        assert [e.outcome for e in EventLog().read("web")] == [
            EventOutcome.STARTED,
            EventOutcome.ACTIVE,
        ]

    def test_a_stopped_service_started_again_is_started_not_restarted(self) -> None:
        started(web())
        stop_service("web")
        assert started(web()) == ["started", "active"]

    def test_stop_reports_stopped_with_the_real_state(self) -> None:
        started(web())
        recorder = EventRecorder()
        stop_service("web", on_event=recorder)
        assert [(e.outcome.value, e.state) for e in recorder.events] == [("stopped", "inactive")]

    def test_update_reports_updated_then_active(self) -> None:
        started(web())
        recorder = EventRecorder()
        update_service("web", web(description="v2"), timeout=30, on_event=recorder)
        assert recorder.outcomes == ["updated", "active"]

    def test_a_crashing_start_reports_failed_with_the_error_state(self) -> None:
        crash = CommandService.http("crash", [PY, "-c", "import sys; sys.exit(3)"])
        recorder = EventRecorder()
        with pytest.raises(ServiceFailedError):
            start_service(crash, timeout=30, on_event=recorder)
        assert [(e.outcome.value, e.state) for e in recorder.events] == [
            ("started", "pending_startup"),
            ("failed", "error"),
        ]

    def test_active_is_reported_once_across_a_timed_out_start_and_a_wait(self) -> None:
        """start(timeout) gives up while the service is still starting; the wait sees it arrive."""
        recorder = EventRecorder()
        with pytest.raises(StartTimeoutError):
            start_service(slow("late", 1.5), timeout=0.2, on_event=recorder)
        wait_for_service("late", timeout=30, on_event=recorder)
        wait_for_service("late", timeout=30, on_event=recorder)  # already active: no event
        assert [(e.outcome.value, e.state) for e in recorder.events] == [
            ("started", "pending_startup"),
            ("failed", "pending_startup"),
            ("active", "active"),
        ]

    def test_a_wait_reports_active_even_if_another_process_saw_it_first(self) -> None:
        """A launch without waiting, then a status check elsewhere (a trigger, `outlive status`)
        saves ACTIVE; the wait still reports the transition, once."""
        recorder = EventRecorder()
        start_service(slow("deferred", 0.5), wait=False, on_event=recorder)
        _wait_until(lambda: check_service_once("deferred").is_active)
        wait_for_service("deferred", timeout=30, on_event=recorder)
        wait_for_service("deferred", timeout=30, on_event=recorder)
        assert recorder.outcomes == ["started", "active"]

    def test_the_last_event_of_a_service_is_found_from_the_end(self) -> None:
        started(web())
        started(web("other"))
        uuid = str(get_service("web").uuid)
        last = EventLog().last(uuid)
        assert last is not None and (last.outcome, last.name) == (EventOutcome.ACTIVE, "web")
        assert EventLog().last("no-such-uuid") is None
        assert EventLog().last(uuid, chunk=37) == last  # lines cut across reads

    def test_the_log_holds_every_event_in_order_for_the_cli(self) -> None:
        started(web())
        started(web())
        stop_service("web")
        outcomes = [e.outcome.value for e in EventLog().read("web")]
        assert outcomes == ["started", "active", "reused", "stopped"]


class TestWatcher:
    def test_a_sigkilled_service_is_reported_died_once(self) -> None:
        started(web())
        watcher = Watcher()
        assert watcher.step() == []  # nothing changed since the start's own events

        child_of("web").kill()
        events = _step_until(watcher, "died")
        assert [(e.outcome.value, e.state, e.origin) for e in events] == [
            ("died", "error", "watch")
        ]
        assert watcher.step() == []  # reported once

    def test_a_status_query_in_between_does_not_hide_the_crash(self) -> None:
        started(web())
        watcher = Watcher()
        child_of("web").kill()
        _wait_until(lambda: get_service("web").status.state.value == "error")
        assert [e.outcome.value for e in _step_until(watcher, "died")] == ["died"]

    def test_a_restart_policy_that_gives_up_is_reported(self) -> None:
        """A server that dies after a moment, restarted once, then left down: gave-up, once.

        Whether the watcher also catches the first crash (died, then active again) depends
        on whether a round falls inside the short restart; the end is always gave-up."""
        code = (
            "import http.server, sys, threading, os, time\n"
            "server = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), "
            "http.server.SimpleHTTPRequestHandler)\n"
            "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
            "time.sleep(2.5); os._exit(4)\n"
        )
        service = CommandService.http(
            "flaky",
            [PY, "-c", code, "{port}"],
            restart=RestartPolicy(mode="on-failure", max_restarts=1, backoff_base=0.1),
        )
        assert started(service) == ["started", "active"]
        watcher = Watcher()
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while "gave-up" not in seen and time.monotonic() < deadline:
            seen += [e.outcome.value for e in watcher.step() if e.origin == "watch"]
            time.sleep(0.2)
        assert seen[-1] == "gave-up" and seen.count("gave-up") == 1, seen
        assert set(seen[:-1]) <= {"died", "active"}, seen
        assert get_service("flaky").status.restarts == 1


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Receiver.received = []
    _Receiver.fail_first = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    finally:
        server.shutdown()


class TestWebhook:
    def test_the_watch_command_posts_died_to_a_real_receiver(
        self, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Any
    ) -> None:
        """`outlive watch --webhook URL` in its own process; the service is SIGKILLed after
        the process that started it has exited."""
        url, received = receiver
        starter = subprocess.run(
            [
                PY,
                "-c",
                "from plugin_core import CommandService, start_service; import sys; "
                f"start_service(CommandService.http('web', {HTTP_SERVER!r}), timeout=30)",
            ],
            env=os.environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert starter.returncode == 0, starter.stderr
        watch = subprocess.Popen(
            [PY, "-m", "plugin_core.cli", "watch", "--period", "0.5", "--webhook", url],
            env=os.environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until(lambda: _watch_ready(watch), timeout=30)
            child_of("web").send_signal(signal.SIGKILL)
            _wait_until(lambda: any(r["outcome"] == "died" for r in received), timeout=30)
        finally:
            watch.terminate()
            watch.wait(timeout=10)
        (died,) = [r for r in received if r["outcome"] == "died"]
        assert died["event"] == "outlive.service.died" and died["name"] == "web"
        assert died["state"] == "error" and died["origin"] == "watch"

    def test_retries_a_failing_receiver(self, receiver: tuple[str, list[dict[str, Any]]]) -> None:
        url, received = receiver
        _Receiver.fail_first = 2
        started(web())
        (event,) = EventLog().read("web")[:1]
        WebhookSink(url, timeout=5, retries=3)(event)
        assert [r["outcome"] for r in received] == ["started"]


def _watch_ready(watch: subprocess.Popen[bytes]) -> bool:
    """The watcher prints one line once it has read its baseline."""
    assert watch.stdout is not None
    line = watch.stdout.readline().decode()
    assert watch.poll() is None, line
    return "watching" in line


def _step_until(watcher: Watcher, outcome: str, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = watcher.step()
        if any(e.outcome.value == outcome for e in events):
            return events
        time.sleep(0.1)
    raise AssertionError(f"no {outcome} event within {timeout}s")


def _wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


class TestCommandLine:
    def test_start_says_which_happened_and_events_lists_them(self, tmp_path: Any) -> None:
        """`outlive start` twice: started, then reused; `outlive events web` shows the log."""
        definition = tmp_path / "web.json"
        definition.write_text(json.dumps(web().to_dict() | {"type": "command"}))

        def outlive(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [PY, "-m", "plugin_core.cli", *args],
                env={**os.environ, "COLUMNS": "200"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        first, second = outlive("start", str(definition)), outlive("start", str(definition))
        listed = outlive("events", "web")
        as_json = outlive("events", "web", "--json")

        assert "web started and is active" in first.stderr, first.stderr
        assert "web was already running (reused)" in second.stderr, second.stderr
        lines = listed.stdout.splitlines()
        assert [line.split()[2] for line in lines] == ["started", "active", "reused"]
        outcomes = [json.loads(line)["outcome"] for line in as_json.stdout.splitlines()]
        assert outcomes == ["started", "active", "reused"]
