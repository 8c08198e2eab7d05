"""The supervisor that runs beside every local service: spawn, log, record the exit, restart.

It is started as ``python -S -E -c STUB DIR SPEC`` (importing this module, so from its
cached bytecode) in a new session, imports
only the standard library (so it costs a few milliseconds, not a framework's
import time), spawns the service before anything else, and then:

* copies the service's output into a size-rotated log file;
* records its state (pids, start tokens, phase, exit code, restarts) in an
  atomically replaced JSON file that any later process can read;
* applies the restart policy (backoff with jitter, burst limit, give up);
* on SIGTERM records the requested stop first (so a stop can never be judged a crash,
  even if this process is killed a moment later), then SIGTERMs every descendant,
  waits the grace period (the one the stopper wrote in ``stop.request``, for this stop
  only, else the configured one), then SIGKILLs what is left.

It is a child subreaper (``PR_SET_CHILD_SUBREAPER``, set by the launcher before the
first exec, as systemd and tini do): a process that double-forks away from the service
is reparented to the supervisor, not to init, so it stays among the supervisor's
descendants, marker in its environment or not, and a stop or an exit takes it down too.

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


def descendants(root: int) -> list[int]:
    """Live processes below ``root``, by the parent links in ``/proc``.

    The supervisor is a child subreaper, so every process ever started below it, even one
    that double-forked and dropped its environment, is still below it here."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[0] not in (b"Z", b"X"):
            children.setdefault(int(fields[1]), []).append(int(name))
    found, stack = [], [root]
    while stack:
        for pid in children.get(stack.pop(), ()):
            found.append(pid)
            stack.append(pid)
    return found


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
        self.stop_path = spec.get("stop_path") or os.path.join(
            os.path.dirname(self.state_path), "stop.request"
        )
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
        self.child_code: int | None = None
        self.started = 0.0
        self.forked = False  # the first service process was forked from its starter

    def save(self, **changes: Any) -> None:
        self.record.update(changes)
        self.record["updated"] = time.time()
        tmp = f"{self.state_path}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, encode_json(self.record).encode())
            finally:
                os.close(fd)
            os.replace(tmp, self.state_path)
        except OSError:
            # The runtime folder is gone (deleted under a live service, e.g. a temp dir swept
            # away): nobody can read this record any more, but a stop must still take the
            # whole tree down, and an exit still sweeps what the service left behind.
            pass

    def launch(self, early: tuple[int, int | None, float] | None = None) -> None:
        if early is None:
            early = spawn_logged(
                self.spec["argv"], self.spec.get("cwd"), bool(self.spec.get("log_path"))
            )
            self.forked = False  # a restart is exec'd: its starter may be long gone
        pid, self.pipe_r, self.started = early
        self.child, self.child_code = pid, None
        self.save(
            phase="running",
            child_pid=pid,
            child_token=start_token(pid),
            child_forked=self.forked,
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
        """Reap every ended child (orphans reparented here too); the service's exit code, once
        it has ended."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == self.child:
                self.child_code = os.waitstatus_to_exitcode(status)
        return self.child_code

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
        """A requested stop: record it before anything else, then take every descendant down."""
        self.save(phase="stopping", stop_requested=True, reason="stop requested")
        grace = self.requested_grace()
        if self.child_code is None:  # not reaped yet: the pid is still the service's
            self.signal_group(signal.SIGTERM)
        self.sweep(grace)
        if self.child_code is None:  # it ended between the last reap and the last look
            try:
                self.child_code = os.waitstatus_to_exitcode(os.waitpid(self.child, 0)[1])
            except ChildProcessError:
                self.child_code = -9
        self.drain()  # the service's last lines (a request it answered) reach the log
        return self.child_code

    def requested_grace(self) -> float:
        """The grace period of this stop: the stopper's (``stop.request``), else the spec's."""
        try:
            with open(self.stop_path, "rb") as handle:
                fields = handle.read().split()  # "GRACE SUPERVISOR_PID"
            grace = float(fields[0])
            mine = len(fields) < 2 or fields[1] == str(os.getpid()).encode()
            if mine and grace == grace and grace >= 0:  # for this supervisor, not NaN, >= 0
                return grace
        except (OSError, ValueError, IndexError):
            pass
        return float(self.spec.get("grace", 10.0))

    def sweep(self, grace: float) -> None:
        """SIGTERM every descendant, wait up to ``grace`` seconds, SIGKILL the rest, reap all.

        SIGKILL is repeated until no descendant is left, so a fork during the kill is caught too.
        """
        me = os.getpid()
        for pid in descendants(me):
            self.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while True:
            self.reap()
            left = descendants(me)
            if not left:
                return
            if time.monotonic() >= deadline:
                break
            self.pump(min(0.05, max(deadline - time.monotonic(), 0.001)))
        while left:
            for pid in left:
                self.kill(pid, signal.SIGKILL)
            self.pump(0.005)
            self.reap()
            left = descendants(me)
        self.reap()

    @staticmethod
    def kill(pid: int, signum: int) -> None:
        try:  # noqa: SIM105 - contextlib would cost import time in this stdlib-only process
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

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
                self.sweep(float(self.spec.get("grace", 10.0)))  # what it left behind goes too
                return 0
            if self.log:
                self.log.note(f"service {words}; restarting")
            self.save(phase="backoff", exit_code=code, reason=f"service {words}; restarting")
            self.sweep(float(self.spec.get("grace", 10.0)))  # free its ports for the next run
            self.backoff()
            if _stop_requested:
                self.save(phase="stopped", stop_requested=True, reason="stopped on request")
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
        # ``SPEC --adopt PID log|nolog [fork]``: /bin/sh spawned the service (its output on
        # fd 3, a FIFO opened read-write), or a fork of the starter forked it (its output on
        # fd 3, a pipe), and then exec'd into this process, which is thus its parent.
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
    supervisor.forked = sys.argv[2:3] == ["--adopt"] and sys.argv[5:6] == ["fork"]
    try:
        return supervisor.run(early)
    except Exception as exc:
        supervisor.save(phase="failed", reason=f"supervisor error: {exc!r}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
