"""Processes: launch detached, know them by identity, stop their whole tree.

Identity is a pid plus the process's start time, so a pid reused by an
unrelated process is never taken for our service, nor signalled. The supervisor
is launched as a child subreaper, so everything its service ever starts stays
below it (see :mod:`plugin_core.backends._supervisor`), and a stop is asked of
it first. :func:`stop_tree` is the backstop for what no supervisor takes down: it
collects the tree (process group, descendants, and any process carrying the
service's marker in its environment, or unmarked below one that does), sends
SIGTERM, waits the grace period on a monotonic clock, then SIGKILLs what is left.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from plugin_core.errors import DaemonSpawnError
from plugin_core.paths import read_small_file

if TYPE_CHECKING:
    import psutil

    from plugin_core.model.probe_policy import ProbePolicy

MARKER_ENV = "OUTLIVE_SERVICE_UUID"
_DROPPED_ENV_PREFIXES = ("AIRFLOW_CTX_", "PREFECT__", "_AIRFLOW", "OUTLIVE_SERVICE_")
SUPERVISOR = Path(__file__).parent / "backends" / "_supervisor.py"
# Run as ``python -c STUB``, not ``python _supervisor.py``: a script is compiled from source on
# every run (~1.5 ms), an imported module loads from its cached bytecode.
_SUPERVISOR_STUB = "import sys; sys.path.insert(0, sys.argv.pop(1)); import _supervisor; sys.exit(_supervisor.main())"

@functools.cache
def process_exit() -> ProbePolicy:
    """How a wait for a process to end polls: every 5 ms at first (a stop is on the caller's
    path), backing off to 50 ms for one that takes its grace period. Built on first use: a
    model instance made at import would load pydantic's plugins (~30 ms) on every import."""
    from plugin_core.model.probe_policy import ProbePolicy

    return ProbePolicy(initial_interval=0.005, fast_phase=0.25, period=0.05)


# The service must not wait for a Python interpreter to boot: a launcher starts it, its output
# going to a FIFO on fd 3, then execs into the supervisor, which keeps the pid, fd 3 and the
# service as its own child (so it can wait for it and record the exit code). The launcher is
# the native subreaper program (:mod:`plugin_core.subreaper`) where it could be built, else
# this /bin/sh script (about 1 ms more); both take the same arguments and do the same.
_LAUNCHER = """
svc_cwd=$1 log=$2 fifo=$3; shift 3
py=$1 s=$2 e=$3 c=$4 stub=$5 dir=$6 spec=$7; shift 7
if [ "$log" = log ]; then exec 3<>"$fifo"; else exec 3>/dev/null; fi
(cd "$svc_cwd" && exec "$@" 3>&-) >&3 2>&3 </dev/null &
exec "$py" "$s" "$e" "$c" "$stub" "$dir" "$spec" --adopt "$!" "$log"
"""


@dataclass(frozen=True)
class ServiceLaunch:
    """What the supervisor starts first: the service's program, its working directory,
    whether its output is logged, and optionally the same service as a function
    (``in_fork``, returning the exit code) that a fork of this process can run instead of
    exec'ing ``argv`` (see :mod:`plugin_core.fork_launch`)."""

    argv: list[str]
    cwd: str
    logged: bool
    in_fork: Callable[[], int] | None = None


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as (pid, start token): stable for its lifetime, never equal for a reused pid."""

    pid: int
    token: str

    def is_alive(self) -> bool:
        """True if this very process still runs (not a zombie, not a reused pid).

        One read of ``/proc/PID/stat`` gives both the start token and the run state."""
        fields = _stat_fields(self.pid)
        return (
            fields is not None
            and fields[19].decode() == self.token
            and fields[0] not in (b"Z", b"X")
        )


def _stat_fields(pid: int) -> list[bytes] | None:
    """``/proc/PID/stat`` after the command name (field 3 onwards), or None if unreadable."""
    stat = read_small_file(f"/proc/{pid}/stat")
    if stat is None or b")" not in stat:
        return None
    fields = stat.rsplit(b")", 1)[1].split()
    return fields if len(fields) > 19 else None


def start_token(pid: int) -> str | None:
    """The process start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    fields = _stat_fields(pid)
    return fields[19].decode() if fields is not None else None


def identity_of(pid: int) -> ProcessIdentity | None:
    """The identity of the live process ``pid``, or None if there is none."""
    token = start_token(pid)
    return ProcessIdentity(pid, token) if token is not None else None


def service_environment(
    extra: Mapping[str, str], *, marker: str, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The caller's environment minus orchestrator run context, plus ``extra`` and the marker."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update(extra)
    env[MARKER_ENV] = marker
    return env


def spawn_supervisor(
    spec_path: Path,
    *,
    env: Mapping[str, str],
    cwd: Path,
    launch: ServiceLaunch | None = None,
) -> ProcessIdentity:
    """Launch the stdlib-only supervisor in a new session, detached from every caller's fd.

    With ``launch``, the service is started before the supervisor has even imported json
    for the rest of the spec, one of two ways, and the supervisor adopts it
    (``--adopt PID``): exec'd by a /bin/sh launcher (:data:`_LAUNCHER`), or, when
    ``launch.in_fork`` is given and this process is safe to fork
    (:func:`plugin_core.fork_launch.fork_is_safe`), forked from this process, whose imports
    are then already done. The supervisor, its command line, environment and session are
    the same either way.
    """
    supervisor = [sys.executable, "-S", "-E", "-c", _SUPERVISOR_STUB, str(SUPERVISOR.parent)]
    supervisor.append(str(spec_path))
    if launch is not None and launch.in_fork is not None:
        from plugin_core.fork_launch import fork_is_safe, fork_supervisor
        from plugin_core.observer_pool import release_if_idle

        release_if_idle()  # an earlier status refresh's idle threads must not rule out a fork
        if fork_is_safe() and _sqlite_closed_for_fork():
            pid = fork_supervisor(supervisor, env=env, cwd=str(cwd), launch=launch)
            return _identity_of_launched(pid)
    return _identity_of_launched(_exec_supervisor(supervisor, spec_path, env, cwd, launch))


def _sqlite_closed_for_fork() -> bool:
    """The registry's SQLite connections closed (a forked child must open its own from a
    clean SQLite state); always true when the registry module was never loaded."""
    store = sys.modules.get("plugin_core.registry.store")
    return store is None or bool(store.close_sqlite_connections_before_fork())


def _exec_supervisor(
    supervisor: list[str],
    spec_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    launch: ServiceLaunch | None,
) -> int:
    """Popen the supervisor (through the launcher when there is a service to start first)."""
    import subprocess

    from plugin_core.subreaper import subreaper_launch

    prefix, preexec = subreaper_launch()
    argv = [*prefix, *supervisor]
    if launch is not None:
        fifo = spec_path.parent / "output.fifo"
        if launch.logged and not fifo.exists():
            os.mkfifo(fifo, 0o600)
        args = [launch.cwd, "log" if launch.logged else "nolog", str(fifo)]
        if prefix:  # the native launcher: the same arguments, and how many the supervisor's are
            argv = [*prefix, "--launch", str(len(supervisor)), *args, *supervisor, *launch.argv]
        else:
            argv = ["/bin/sh", "-c", _LAUNCHER, "outlive-launcher", *args, *supervisor, *launch.argv]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env),
            close_fds=True,
            start_new_session=True,
            preexec_fn=preexec,  # None with the native wrapper: then subprocess can vfork
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise DaemonSpawnError(f"Could not launch the service supervisor: {exc}") from exc
    # Reap it when it ends, so a long-lived caller (a worker, a notebook) keeps no zombie.
    threading.Thread(target=process.wait, name=f"outlive-reap-{process.pid}", daemon=True).start()
    return process.pid


def _identity_of_launched(pid: int) -> ProcessIdentity:
    token = start_token(pid)
    if token is None:
        raise DaemonSpawnError(f"The service supervisor (pid {pid}) exited at once")
    return ProcessIdentity(pid, token)


def stop_tree(
    roots: Iterable[ProcessIdentity], *, grace: float, marker: str | None = None
) -> list[int]:
    """SIGTERM every live process of the trees under ``roots`` (and marked ones), wait ``grace``
    seconds, SIGKILL survivors. Returns the pids that had to be killed."""

    import signal

    targets = _collect(roots, marker)
    if not targets:
        return []
    for proc in targets:
        _signal(proc, signal.SIGTERM)
    alive = _wait_all(targets, timeout=max(grace, 0.0))
    alive += [p for p in _collect(roots, marker) if p not in targets]  # spawned while stopping
    for proc in alive:
        _signal(proc, signal.SIGKILL)
    _wait_all(alive, timeout=5.0)
    return [proc.pid for proc in alive]


def _wait_all(processes: list[psutil.Process], *, timeout: float) -> list[psutil.Process]:
    """Poll until every process has ended (zombies count as ended); return the survivors.

    Not ``psutil.wait_procs``: our services are not our children, so it would poll each one
    in slices and wait out a zombie that init has not reaped yet.
    """
    from plugin_core.waiting import wait_until  # waiting's policy model: not for a mere look

    pending = list(processes)

    def all_ended() -> bool | None:
        pending[:] = [proc for proc in pending if _running(proc)]
        return True if not pending else None

    wait_until(all_ended, timeout=timeout, policy=process_exit())
    return pending


def _running(process: psutil.Process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _collect(roots: Iterable[ProcessIdentity], marker: str | None) -> list[psutil.Process]:
    import psutil

    found: dict[int, psutil.Process] = {}
    for root in roots:
        if not root.is_alive():
            continue
        try:
            process = psutil.Process(root.pid)
            found[process.pid] = process
            for child in process.children(recursive=True):
                found[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    if marker:
        for process in marked_processes(marker):
            found.setdefault(process.pid, process)
    found.pop(os.getpid(), None)
    return list(found.values())


def marked_processes(marker: str) -> list[psutil.Process]:
    """Processes of this user that belong to the service ``marker`` (its uuid) by the marker
    rule of :func:`all_marked_processes`."""
    import psutil

    matches = []
    for pid in _marked_pids(marker).get(marker, []):
        try:
            matches.append(psutil.Process(pid))
        except psutil.Error:
            continue
    return matches


def all_marked_processes() -> dict[str, list[int]]:
    """Every process of this user that belongs to an outlive service, as {marker (service
    uuid): pids}: what ``prune`` and ``status`` compare with the registry to find unrecorded
    services.

    A process belongs to a service if its environment carries ``OUTLIVE_SERVICE_UUID=uuid``,
    or, carrying no marker at all, if its nearest marked ancestor does: a daemon forked from
    its starter (:mod:`plugin_core.fork_launch`) shows the starter's environment in
    ``/proc``, not the marker it runs with, but it lives below its marked supervisor.
    """
    return _marked_pids(None)


def _marked_pids(only: str | None) -> dict[str, list[int]]:
    """Read ``/proc`` directly (owner from the directory, then the environment) rather than
    through ``psutil.process_iter``, which builds an object per process: a stop on a busy
    machine should not cost a tenth of a second per service. Parents are read only when
    some process carries the marker asked for (``only``, or any)."""
    prefix = f"{MARKER_ENV}=".encode()
    owner: dict[int, str] = {}
    unmarked: list[int] = []
    for pid, environ in _own_environs():
        marker = None
        if prefix in environ:
            for variable in environ.split(b"\0"):
                if variable.startswith(prefix):
                    marker = variable[len(prefix) :].decode(errors="replace")
                    break
        if marker is None:
            unmarked.append(pid)
        else:
            owner[pid] = marker
    wanted = set(owner.values()) if only is None else {only} & set(owner.values())
    if wanted and unmarked:
        parents = {pid: ppid for pid in unmarked if (ppid := _parent(pid)) is not None}
        for pid in unmarked:
            chain = []
            while pid in parents and pid not in owner:
                chain.append(pid)
                pid = parents[pid]
            if pid in owner:
                owner.update(dict.fromkeys(chain, owner[pid]))
    found: dict[str, list[int]] = {}
    for pid, marker in owner.items():
        if marker in wanted:
            found.setdefault(marker, []).append(pid)
    return found


def _parent(pid: int) -> int | None:
    """The parent of a live (not zombie) process, else None."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1])


def _own_environs() -> Iterator[tuple[int, bytes]]:
    """(pid, raw environment) of every process of this user but this one, read from ``/proc``."""
    uid, own = os.getuid(), os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                yield int(entry.name), handle.read()
        except OSError:
            continue


def _signal(process: psutil.Process, signum: int) -> None:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        process.send_signal(signum)


def terminate_and_wait(identity: ProcessIdentity, timeout: float) -> bool:
    """SIGTERM this very process and wait up to ``timeout`` seconds; True if it ended."""
    import signal

    if not identity.is_alive():
        return True
    try:
        os.kill(identity.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    return wait_gone(identity, timeout)


def wait_gone(identity: ProcessIdentity, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the process to end; True if it did."""
    from plugin_core.waiting import wait_until

    ended = wait_until(
        lambda: None if identity.is_alive() else True,
        timeout=max(timeout, 0.0),
        policy=process_exit(),
    )
    return ended is not None
