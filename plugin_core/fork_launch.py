"""The fast way to get a ``run()`` daemon: fork the starter, whose imports are already done.

A ``LocalDaemonService`` launched by exec runs its ``run()`` in a fresh interpreter that
must import pydantic, plugin_core and the service's module (about 110 ms) before it can
serve. A starter that is safe to fork (:func:`fork_is_safe`: one thread, no orchestrator
loaded) hands :func:`plugin_core.processes.spawn_supervisor` the same service as a
function instead, and this module gets the daemon process by forking:

* the starter forks an intermediate child and reaps it at once (so it keeps neither a
  zombie nor a reaper thread); the intermediate forks the future supervisor and exits;
* that process becomes a session leader and a child subreaper (before anything exists
  below it), forks the daemon with its output on a pipe, and execs the stdlib supervisor
  in its ``--adopt PID log|nolog fork`` mode: exactly the supervisor, command line and
  environment of the exec path, now the parent of an already running daemon;
* the daemon (:func:`_become_daemon`) is made to look like the exec path's: the daemon
  environment in ``os.environ`` (so its own children inherit the marker), the service's
  working directory, stdio on the log, default signal dispositions, no lock or connection
  of the starter, a fresh root logger, then the service reloaded from its config file as
  ``_daemon.main`` does; it always ends in ``os._exit`` and never returns into the
  starter's code.

Restarts go through the exec path (the supervisor spawns ``python -m ..._daemon``), and so
does every start when ``OUTLIVE_DAEMON_LAUNCH=exec`` is set (a daemon that must not share
anything with its starter, not even copied memory).

What differs, and how it is handled: ``/proc/PID/cmdline`` and ``/proc/PID/environ`` of a
forked daemon are the starter's (the kernel shows the environment the process was exec'd
with), so the daemon itself carries no marker there. It is still known by the supervisor's
record (pid and start token, ``child_forked: true``) and as a descendant of its subreaper
supervisor; :func:`plugin_core.processes.marked_processes` counts an unmarked process as
belonging to the service of its nearest marked ancestor, so stop, prune and ``outlive
list`` find it. Its memory holds the starter's other objects too (never used: every
inherited descriptor is pointed at ``/dev/null``, the registry's pooled connections and the
claims are left behind untouched by at-fork hooks in :mod:`plugin_core.registry.store` and
:mod:`plugin_core.locks`), shared copy-on-write: a large starter that lives on and keeps
writing its heap ends up with those pages copied; ``OUTLIVE_DAEMON_LAUNCH=exec`` avoids that.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, NoReturn, TextIO

from plugin_core.errors import DaemonSpawnError

if TYPE_CHECKING:
    from plugin_core.processes import ServiceLaunch

LAUNCH_ENV = "OUTLIVE_DAEMON_LAUNCH"  # "exec": never fork, always exec a fresh interpreter
# A starter that has loaded an orchestrator is not forked: the daemon would keep the worker's
# memory, clients and run context for its whole life (the exec path's daemon imports neither).
_ORCHESTRATORS = ("prefect", "airflow")


def fork_is_safe() -> bool:
    """True if this process may be forked to get a daemon: Linux, a single thread (Python's
    and the kernel's count: a C library's thread counts too), no orchestrator loaded, and
    ``OUTLIVE_DAEMON_LAUNCH`` is not ``exec`` (the way to ask for a fresh interpreter)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if os.environ.get(LAUNCH_ENV, "").strip().lower() == "exec":
        return False
    if threading.active_count() != 1 or threading.current_thread() is not threading.main_thread():
        return False
    if any(name in sys.modules for name in _ORCHESTRATORS):
        return False
    # A thread just joined (the released observer pool) is gone from Python's count a moment
    # before the kernel's: give the kernel a few milliseconds to agree.
    for _ in range(10):
        threads = _kernel_thread_count()
        if threads == 1:
            return True
        if threads is None:
            return False
        time.sleep(0.0005)
    return False


def _kernel_thread_count() -> int | None:
    try:
        with open("/proc/self/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return None


@dataclass(frozen=True)
class _Plan:
    """What the forked children need, prepared in the starter (no lookup happens after a fork)."""

    supervisor: list[str]
    env: dict[str, str]
    cwd: str
    launch: ServiceLaunch
    become_subreaper: Callable[[], None]


def fork_supervisor(
    supervisor: list[str], *, env: Mapping[str, str], cwd: str, launch: ServiceLaunch
) -> int:
    """Fork the daemon and the supervisor that adopts it (see the module docstring); the
    supervisor's pid, once it has exec'd."""
    from plugin_core.subreaper import subreaper_setter

    plan = _Plan(supervisor, dict(env), cwd, launch, subreaper_setter())
    _flush_stdio()  # buffered output must not be written twice
    report_r, report_w = os.pipe()  # close-on-exec: EOF once the supervisor has exec'd
    try:
        intermediate = os.fork()
    except OSError as exc:
        os.close(report_r)
        os.close(report_w)
        raise DaemonSpawnError(f"Could not fork the service supervisor: {exc}") from exc
    if intermediate == 0:
        _intermediate(plan, report_w)
    os.close(report_w)
    with contextlib.suppress(ChildProcessError):  # the starter ignores SIGCHLD: reaped already
        os.waitpid(intermediate, 0)
    report = b""
    while chunk := os.read(report_r, 4096):
        report += chunk
    os.close(report_r)
    lines = report.decode(errors="replace").splitlines()
    failures = [line[1:] for line in lines if line.startswith("E")]
    pids = [int(line[1:]) for line in lines if line.startswith("P")]
    if failures or not pids:
        reason = failures[0] if failures else "the forked launcher ended at once"
        raise DaemonSpawnError(f"Could not launch the service supervisor: {reason}")
    return pids[0]


def _intermediate(plan: _Plan, report_w: int) -> NoReturn:
    """Fork the future supervisor, report its pid, exit: it is then nobody's child here."""
    code = 1
    try:
        pid = os.fork()
        if pid == 0:
            _become_supervisor(plan, report_w)
        os.write(report_w, f"P{pid}\n".encode())
        code = 0
    finally:
        os._exit(code)


def _become_supervisor(plan: _Plan, report_w: int) -> NoReturn:
    """Session leader and subreaper, fork the daemon, exec the supervisor that adopts it;
    a failure is written to the report pipe, never raised into the starter's code."""
    import signal

    daemon = 0
    try:
        report_w = _above_stdio(report_w)
        os.setsid()
        plan.become_subreaper()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the daemon's exit is never auto-reaped
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        output_r = output_w = None
        if plan.launch.logged:
            output_r, output_w = (_above_stdio(fd) for fd in os.pipe())
        daemon = os.fork()
        if daemon == 0:
            _become_daemon(output_w, plan.launch, _shell_env(plan.env, plan.launch.cwd, plan.cwd))
        devnull = _above_stdio(os.open(os.devnull, os.O_RDWR))
        for fd, source in ((0, devnull), (1, devnull), (2, devnull), (3, output_r or devnull)):
            os.dup2(source, fd)  # 3: the output the supervisor adopts
            os.set_inheritable(fd, True)
        _close_from(4, keep=report_w)
        os.chdir(plan.cwd)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):  # as subprocess's restore_signals
            signal.signal(signum, signal.SIG_DFL)
        adopt = ["--adopt", str(daemon), "log" if plan.launch.logged else "nolog", "fork"]
        os.execve(plan.supervisor[0], [*plan.supervisor, *adopt], {**plan.env, "PWD": plan.cwd})
    except BaseException as exc:
        if daemon:
            os.kill(daemon, signal.SIGKILL)
        os.write(report_w, f"E{type(exc).__name__}: {exc}\n".encode())
    os._exit(127)


def _shell_env(env: dict[str, str], service_cwd: str, cwd: str) -> dict[str, str]:
    """The environment the exec path's shell launcher gives the service: ``cd`` sets PWD and
    OLDPWD (dash exports both)."""
    return {**env, "OLDPWD": cwd, "PWD": service_cwd}


def _above_stdio(fd: int) -> int:
    """``fd`` itself, or moved above 3 if it is one of the numbers about to be set up
    (a starter with a closed stdin gets low numbers from ``pipe``)."""
    if fd > 3:
        return fd
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 4)
    os.close(fd)
    return moved


def _open_fds() -> list[int]:
    return sorted(int(name) for name in os.listdir("/proc/self/fd"))


def _close_from(lowest: int, keep: int) -> None:
    for fd in _open_fds():
        if fd >= lowest and fd != keep:
            try:
                os.close(fd)
            except OSError:
                continue


def _become_daemon(output_w: int | None, launch: ServiceLaunch, env: dict[str, str]) -> NoReturn:
    """The daemon process: the exec path's process state, then ``launch.in_fork()``; exits
    with its code and never returns into the starter's code."""
    code = 1
    try:
        import gc

        gc.freeze()  # the starter's objects are never collected (nor finalised) here
        _detach_descriptors(output_w)
        _default_signals()
        os.chdir(launch.cwd)
        os.environ.clear()
        os.environ.update(env)
        _fresh_interpreter_state()
        assert launch.in_fork is not None
        code = _exit_code(launch.in_fork)
    except BaseException:  # a process boundary: reported in the log, as Python would
        import traceback

        os.write(2, traceback.format_exc().encode(errors="backslashreplace"))
    finally:
        try:
            _finish()
        finally:
            os._exit(code)


def _detach_descriptors(output_w: int | None) -> None:
    """stdin from /dev/null, stdout and stderr to the log pipe (or /dev/null); every other
    descriptor of the starter (its registry connection, its claim's lock file, its sockets)
    is pointed at /dev/null, close-on-exec, rather than closed: a starter's object that is
    released later closes its own number, which this process can then not have reused."""
    devnull = _above_stdio(os.open(os.devnull, os.O_RDWR))
    os.dup2(devnull, 0)
    target = output_w if output_w is not None else devnull
    os.dup2(target, 1)
    os.dup2(target, 2)
    for fd in (0, 1, 2):
        os.set_inheritable(fd, True)
    for fd in _open_fds():
        if fd > 2 and fd not in (devnull, output_w):
            try:
                os.dup2(devnull, fd, inheritable=False)
            except OSError:
                continue
    os.close(devnull)
    if output_w is not None:
        os.close(output_w)


def _default_signals() -> None:
    """Dispositions as the exec path's daemon starts with: default for all, SIGPIPE and
    SIGXFSZ ignored (Python's own start-up), SIGINT and SIGQUIT ignored (the launcher
    runs the service as a background job of a non-interactive shell), nothing blocked."""
    import signal

    signal.set_wakeup_fd(-1)
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            continue
    for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _fresh_interpreter_state() -> None:
    """What a fresh interpreter would not have: the starter's stdio objects (a test runner's
    capture, an orchestrator's redirect), its exit handlers (they would clean up the
    starter's temporary files), its root logging handlers."""
    import atexit

    _KEPT.extend([sys.stdin, sys.stdout, sys.stderr])  # never finalised here
    sys.stdin = _stdio(0, "r")
    sys.stdout = _stdio(1, "w")
    sys.stderr = _stdio(2, "w", errors="backslashreplace", line_buffering=True)
    atexit._clear()
    logging = sys.modules.get("logging")
    if logging is not None:
        root = logging.getLogger()
        _KEPT.extend(root.handlers)
        root.handlers = []
        root.setLevel(logging.WARNING)


_KEPT: list[object] = []


def _stdio(fd: int, mode: str, errors: str = "strict", line_buffering: bool = False) -> TextIO:
    """A standard stream as the interpreter makes one on a pipe or file (``-u`` or
    ``PYTHONUNBUFFERED``: no buffer below the text layer)."""
    import io

    raw = io.FileIO(fd, mode, closefd=False)
    binary: BinaryIO
    if mode == "w" and os.environ.get("PYTHONUNBUFFERED"):
        binary, write_through = raw, True
    else:
        binary = io.BufferedWriter(raw) if mode == "w" else io.BufferedReader(raw)
        write_through = False
    return io.TextIOWrapper(
        binary, errors=errors, line_buffering=line_buffering, write_through=write_through
    )


def _exit_code(run: Callable[[], int]) -> int:
    """``run()``'s code as the interpreter would make it its exit status."""
    try:
        return run()
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code & 0xFF
        print(exc.code, file=sys.stderr)
        return 1


def _finish() -> None:
    """What the interpreter does at exit: wait for non-daemon threads, run the exit
    handlers registered since the fork, flush stdio."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        import atexit

        atexit._run_exitfuncs()
    finally:
        _flush_stdio()


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()  # type: ignore[union-attr]
