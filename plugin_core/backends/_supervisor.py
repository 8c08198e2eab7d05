"""The supervisor that runs beside every local service: spawn, log, record the exit, restart.

It is started as ``python -S -E -c STUB DIR SPEC`` (importing this module, so from its
cached bytecode) in a new session, imports
only the standard library (so it costs a few milliseconds, not a framework's
import time), spawns the service before anything else, and then:

* copies the service's output into a size-rotated log file;
* records its state (pids, start tokens, phase, exit code, restarts) in an
  atomically replaced JSON file that any later process can read;
* applies the restart policy (backoff with jitter, burst limit, give up);
* on SIGTERM forwards it to the service's process group, waits the grace
  period, then SIGKILLs what is left.

The service's environment is this process's environment: secrets reach the
service without ever being written to a file.
"""

from __future__ import annotations

import os
import select
import sys
import time

TYPE_CHECKING = False  # typing is not imported: every millisecond of start-up counts here
if TYPE_CHECKING:
    import signal
    from types import FrameType
    from typing import Any
else:
    # Only what spawning the service needs is imported before it is spawned: ``_signal``,
    # not ``signal`` (which imports enum, ~4 ms); json (which imports re, ~6 ms) comes after.
    import _signal as signal

_wakeup_r, _wakeup_w = os.pipe()
os.set_blocking(_wakeup_w, False)
signal.set_wakeup_fd(_wakeup_w)
_stop_requested = False


def _on_term(signum: int, frame: FrameType | None) -> None:
    global _stop_requested
    _stop_requested = True


def _on_child(signum: int, frame: FrameType | None) -> None:
    """Nothing to do here: the wakeup fd already woke the main loop."""


def start_token(pid: int) -> str | None:
    """Process start time in clock ticks since boot: with the pid, a process's identity."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def encode_json(value: Any) -> str:
    """JSON for the flat state record, without importing json (which imports re and enum)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return (
            '"'
            + "".join(c if c >= " " and c not in '"\\' else f"\\u{ord(c):04x}" for c in value)
            + '"'
        )
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{encode_json(str(k))}: {encode_json(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(encode_json(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def spawn_logged(argv: list[str], cwd: str | None, logged: bool) -> tuple[int, int | None, float]:
    """Spawn the service, its output into a pipe when logged: (pid, pipe read end, start time)."""
    pipe_r = write_end = None
    if logged:
        pipe_r, write_end = os.pipe()
    pid = spawn({"argv": argv, "cwd": cwd}, write_end)
    if write_end is not None:
        os.close(write_end)
    return pid, pipe_r, time.monotonic()


def spawn(spec: dict[str, Any], log_fd: int | None) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0)]
    if log_fd is None:
        sink = os.open(os.devnull, os.O_WRONLY)
        actions += [(os.POSIX_SPAWN_DUP2, sink, 1), (os.POSIX_SPAWN_DUP2, sink, 2)]
    else:
        actions += [(os.POSIX_SPAWN_DUP2, log_fd, 1), (os.POSIX_SPAWN_DUP2, log_fd, 2)]
    cwd = spec.get("cwd") or os.getcwd()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return os.posix_spawnp(
            spec["argv"][0],
            spec["argv"],
            dict(os.environ),
            file_actions=actions,
            setpgroup=0,
            setsigdef=(signal.SIGHUP,),
        )
    finally:
        os.chdir(here)
        os.close(devnull)
        if log_fd is None:
            os.close(sink)


class Log:
    """Append-only log file rotated by size: ``service.log``, ``service.log.1`` ... ``.N``."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self.fd).st_size

    def write(self, data: bytes) -> None:
        if self.max_bytes and self.size + len(data) > self.max_bytes and self.size:
            self.rotate()
        os.write(self.fd, data)
        self.size += len(data)

    def rotate(self) -> None:
        os.close(self.fd)
        for index in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{index}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{index + 1}")
        if self.backups:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.size = 0

    def note(self, text: str) -> None:
        self.write(f"[outlive supervisor] {text}\n".encode())


class Supervisor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.policy = spec.get("restart") or {"mode": "never"}
        self.state_path = spec["state_path"]
        self.record: dict[str, Any] = {
            "supervisor_pid": os.getpid(),
            "supervisor_token": start_token(os.getpid()),
            "phase": "starting",
            "restarts": 0,
            "exit_code": None,
            "reason": "",
        }
        self.restart_times: list[float] = []
        self.log: Log | None = None
        self.pipe_r: int | None = None
        self.child = 0
        self.started = 0.0

    def save(self, **changes: Any) -> None:
        self.record.update(changes)
        self.record["updated"] = time.time()
        tmp = f"{self.state_path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, encode_json(self.record).encode())
        os.close(fd)
        os.replace(tmp, self.state_path)

    def launch(self, early: tuple[int, int | None, float] | None = None) -> None:
        if early is None:
            early = spawn_logged(
                self.spec["argv"], self.spec.get("cwd"), bool(self.spec.get("log_path"))
            )
        pid, self.pipe_r, self.started = early
        self.child = pid
        self.save(
            phase="running",
            child_pid=pid,
            child_token=start_token(pid),
            exit_code=None,
            child_started_at=time.time(),
        )

    def pump(self, timeout: float) -> None:
        """Copy output to the log and wait for a signal, for at most ``timeout`` seconds."""
        watch = [_wakeup_r] + ([self.pipe_r] if self.pipe_r is not None else [])
        try:
            ready, _, _ = select.select(watch, [], [], timeout)
        except InterruptedError:
            return
        if _wakeup_r in ready:
            os.read(_wakeup_r, 512)
        if self.pipe_r is not None and self.pipe_r in ready:
            data = os.read(self.pipe_r, 65536)
            if data and self.log is not None:
                self.log.write(data)
            else:
                os.close(self.pipe_r)
                self.pipe_r = None

    def reap(self) -> int | None:
        pid, status = os.waitpid(self.child, os.WNOHANG)
        return None if pid == 0 else os.waitstatus_to_exitcode(status)

    def wait_child(self) -> int:
        while True:
            code = self.reap()
            if code is not None:
                self.drain()
                return code
            if _stop_requested:
                return self.terminate()
            self.pump(1.0)

    def drain(self) -> None:
        """Copy what the ended service left in the pipe: until EOF, 20 ms of quiet, or 0.5 s."""
        deadline = time.monotonic() + 0.5
        while self.pipe_r is not None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.pipe_r], [], [], 0.02)
            if not ready:
                break
            self.pump(0)
        if self.pipe_r is not None:
            os.close(self.pipe_r)
            self.pipe_r = None

    def terminate(self) -> int:
        self.save(phase="stopping")
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + float(self.spec.get("grace", 10.0))
        while time.monotonic() < deadline:
            code = self.reap()
            if code is not None:
                self.signal_group(signal.SIGKILL)
                return code
            self.pump(min(0.05, max(deadline - time.monotonic(), 0.001)))
        self.signal_group(signal.SIGKILL)
        return os.waitstatus_to_exitcode(os.waitpid(self.child, 0)[1])

    def signal_group(self, signum: int) -> None:
        for target in (os.killpg, os.kill):
            try:  # noqa: SIM105 - contextlib would cost import time in this stdlib-only process
                target(self.child, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def should_restart(self, code: int) -> tuple[bool, str]:
        mode = self.policy.get("mode", "never")
        if _stop_requested or mode == "never" or (mode == "on-failure" and code == 0):
            return False, ""
        now = time.monotonic()
        if now - self.started >= float(self.policy.get("reset_after", 600)):
            self.record["restarts"] = 0
        limit = self.policy.get("max_restarts")
        if limit is not None and self.record["restarts"] >= int(limit):
            return False, f"gave up after {self.record['restarts']} restarts"
        window = float(self.policy.get("burst_window", 10.0))
        self.restart_times = [t for t in self.restart_times if now - t < window]
        if len(self.restart_times) >= int(self.policy.get("burst_limit", 5)):
            return False, f"restarted {len(self.restart_times)} times within {window:g}s"
        return True, ""

    def backoff(self) -> None:
        base = float(self.policy.get("backoff_base", 0.5))
        cap = float(self.policy.get("backoff_cap", 60.0))
        delay = min(cap, base * (2 ** self.record["restarts"]))
        jitter = float(self.policy.get("jitter", 0.1))
        import random

        delay *= 1 + random.uniform(-jitter, jitter)
        deadline = time.monotonic() + delay
        while not _stop_requested and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())

    def run(self, early: tuple[int, int | None, float] | None = None) -> int:
        if self.spec.get("log_path"):
            self.log = Log(
                self.spec["log_path"],
                int(self.spec.get("log_max_bytes", 50 * 1024 * 1024)),
                int(self.spec.get("log_backups", 5)),
            )
        self.launch(early)
        while True:
            code = self.wait_child()
            if _stop_requested:
                self.save(phase="stopped", exit_code=code, reason="stopped on request")
                return 0
            restart, give_up = self.should_restart(code)
            words = describe(code)
            if not restart:
                phase = "failed" if give_up else "exited"
                reason = f"service {words}" + (f"; {give_up}" if give_up else "")
                if self.log:
                    self.log.note(reason)
                self.save(phase=phase, exit_code=code, reason=reason)
                return 0
            if self.log:
                self.log.note(f"service {words}; restarting")
            self.save(phase="backoff", exit_code=code, reason=f"service {words}; restarting")
            self.backoff()
            if _stop_requested:
                self.save(phase="stopped", reason="stopped on request")
                return 0
            self.restart_times.append(time.monotonic())
            self.record["restarts"] += 1
            self.launch()


# Linux numbers: the ``signal`` module's names would cost an enum import (~4 ms) right when
# the exit must be recorded quickly.
_SIGNAL_NAMES = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    10: "SIGUSR1",
    11: "SIGSEGV",
    12: "SIGUSR2",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
    24: "SIGXCPU",
    25: "SIGXFSZ",
}


def describe(code: int) -> str:
    if code < 0:
        name = _SIGNAL_NAMES.get(-code)
        return f"was killed by {name}" if name else f"was killed by signal {-code}"
    return f"exited with exit code {code}"


def main() -> int:
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # A Python-level handler makes SIGCHLD write to the wakeup fd, so an exit is seen at once.
    signal.signal(signal.SIGCHLD, _on_child)
    early = None
    if sys.argv[2:3] == ["--adopt"]:
        # ``SPEC --adopt PID log|nolog``: /bin/sh spawned the service (its output on fd 3, a
        # FIFO opened read-write) and then exec'd into this process, which is thus its parent.
        logged = sys.argv[4] == "log"
        if not logged:
            os.close(3)
        early = (int(sys.argv[3]), 3 if logged else None, time.monotonic())
    elif sys.argv[2:3] == ["--launch"]:
        # ``SPEC --launch log|nolog CWD ARGV...``: spawn first, read the JSON spec afterwards.
        early = spawn_logged(sys.argv[5:], sys.argv[4], sys.argv[3] == "log")
    with open(sys.argv[1], "rb") as handle:
        data = handle.read()
    if sys.argv[1].endswith(".marshal"):
        import marshal  # built in: no import cost

        spec = marshal.loads(data)
    else:
        import json

        spec = json.loads(data)
    supervisor = Supervisor(spec)
    try:
        return supervisor.run(early)
    except Exception as exc:
        supervisor.save(phase="failed", reason=f"supervisor error: {exc!r}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
