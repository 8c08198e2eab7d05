"""Daemons for the fork-start tests, and a way to make the starter multi-threaded.

Each daemon writes what it sees to the file named by ``config.report`` (written atomically,
so a reader never sees half of it), then keeps running until it is stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from plugin_core import LocalDaemonService, LocalDaemonServiceConfig


class ReportConfig(LocalDaemonServiceConfig):
    """Where the daemon writes its report."""

    report: str = ""


def write_report(path: str, facts: dict[str, object]) -> None:
    with open(f"{path}.tmp", "w") as handle:
        json.dump(facts, handle)
    os.replace(f"{path}.tmp", path)


def process_facts() -> dict[str, object]:
    """What a daemon's process state is: environment, directory, signals, descriptors."""
    with open("/proc/self/status") as handle:
        signals = {
            key: value.strip()
            for key, _, value in (line.partition(":") for line in handle)
            if key in ("SigBlk", "SigIgn")
        }
    descriptors = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            descriptors[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return {
        "environ": dict(os.environ),
        "cwd": os.getcwd(),
        "argv": sys.argv,
        "signals": signals,
        "descriptors": descriptors,
        "stdout_is_fd_1": sys.stdout.fileno() == 1,
        "stderr_is_fd_2": sys.stderr.fileno() == 2,
    }


class ReportingService(LocalDaemonService):
    """Reports its process state, then serves nothing and waits for SIGTERM."""

    config: ReportConfig

    def run(self) -> None:
        write_report(self.config.report, process_facts())
        print("reported", flush=True)
        while True:
            time.sleep(0.05)


class TreeService(LocalDaemonService):
    """Starts a child (which keeps its environment) and a grandchild that setsids,
    double-forks and execs with an empty environment, then reports their pids."""

    config: ReportConfig

    def run(self) -> None:
        child = subprocess.Popen(["sleep", "600"])
        read_end, write_end = os.pipe()
        if os.fork() == 0:
            os.setsid()
            escapee = os.fork()
            if escapee == 0:
                os.execve("/bin/sleep", ["sleep", "600"], {})
            os.write(write_end, str(escapee).encode())
            os._exit(0)
        os.close(write_end)
        escapee = int(os.read(read_end, 64))
        write_report(self.config.report, {"child": child.pid, "escapee": escapee})
        while True:
            time.sleep(0.05)


class FlakyHTTPService(LocalDaemonService):
    """Exits with code 2 the first time (leaving ``config.report`` behind), then serves HTTP."""

    config: ReportConfig

    def run(self) -> None:
        if not os.path.exists(self.config.report):
            write_report(self.config.report, {"first_pid": os.getpid()})
            print("first run fails", flush=True)
            sys.exit(2)
        assert self.endpoint is not None and self.endpoint.status.port is not None
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.endpoint.status.port), http.server.SimpleHTTPRequestHandler
        )
        server.serve_forever()


class SecretService(LocalDaemonService):
    """Reports a digest of its secret (never the secret itself)."""

    config: ReportConfig

    def run(self) -> None:
        token = os.environ.get("API_TOKEN", "")
        write_report(self.config.report, {"sha256": hashlib.sha256(token.encode()).hexdigest()})
        while True:
            time.sleep(0.05)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """This process with one thread for the block, as a script's starter is: an earlier test's
    status refresh (``outlive list``) leaves the observer pool's threads behind; the starter
    releases an idle pool itself, this checks nothing else runs. The pool is made again on
    its next use. A reaper thread (``outlive-reap-PID``) of an earlier exec launch whose
    supervisor has exited may still be ending (CI once listed one as already stopped): it is
    given a moment; one whose supervisor still runs keeps this failing."""
    from plugin_core.observer_pool import release_if_idle

    release_if_idle()
    for thread in threading.enumerate():
        if thread.name.startswith("outlive-reap-"):
            thread.join(timeout=2.0)
    assert threading.active_count() == 1, threading.enumerate()
    yield


@contextlib.contextmanager
def running_thread() -> Iterator[None]:
    """A second thread alive for the block's duration: the starter is then not safe to fork."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="test-second-thread", daemon=True)
    thread.start()
    try:
        yield
    finally:
        release.set()
        thread.join()


def wait_for_report(path: str, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            with open(path) as handle:
                report: dict[str, object] = json.load(handle)
            return report
        time.sleep(0.02)
    raise AssertionError(f"no report at {path} within {timeout} s")


class RegistryReader(LocalDaemonService):
    """Reads its own record from the registry inside ``run()`` and writes another, as a
    control-plane daemon (a WorkflowService registering its replica) does."""

    config: ReportConfig

    def run(self) -> None:
        from plugin_core import CommandService, ServiceRegistry

        registry = ServiceRegistry()
        record = registry.get(self.config.service_name)
        written = CommandService.http(f"{self.config.service_name}-note", ["true"])
        registry.save(written)
        write_report(self.config.report, {"uuid": str(record.uuid)})
        while True:
            time.sleep(0.05)


class Claimer(LocalDaemonService):
    """Takes its own name's claim inside ``run()`` and reports when it got it."""

    config: ReportConfig

    def run(self) -> None:
        from plugin_core import ServiceRegistry

        with ServiceRegistry().claim(self.config.service_name):
            write_report(self.config.report, {"claimed_at": time.monotonic()})
        while True:
            time.sleep(0.05)
