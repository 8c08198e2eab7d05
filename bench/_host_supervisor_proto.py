"""PROTOTYPE (benchmark only, not product code): one supervisor process for many services.

``python -S -E _host_supervisor_proto.py LOGDIR PYTHON SCRIPT PORT...`` spawns
``PYTHON -S SCRIPT PORT`` once per port with ``posix_spawn`` (stdout/stderr into a pipe),
copies every pipe into ``LOGDIR/<port>.log`` through one ``select`` loop, reaps exits on
SIGCHLD, and on SIGTERM terminates every child. It carries the per-service work of the
real supervisor (``plugin_core/backends/_supervisor.py``) that costs memory: one child,
one pipe, one log file, one state entry, so ``bench_supervisor_memory.py`` can measure
the marginal memory of a service under one host supervisor. It has no restart policy,
state records or stop requests: those are a few hundred bytes of state per service.
"""

import _signal as signal
import os
import select
import sys

_r, _w = os.pipe()
os.set_blocking(_w, False)
signal.set_wakeup_fd(_w)
stopping = False


def on_term(signum, frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGCHLD, lambda signum, frame: None)

logdir, python, script, ports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
os.makedirs(logdir, exist_ok=True)
children = {}  # pid -> (pipe read fd, log fd)
by_fd = {}
devnull = os.open(os.devnull, os.O_RDONLY)
for port in ports:
    read_end, write_end = os.pipe()
    pid = os.posix_spawn(
        python, [python, "-S", script, port], os.environ,
        file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, write_end, 1),
                      (os.POSIX_SPAWN_DUP2, write_end, 2)],
        setsid=True,
    )  # fmt: skip
    os.close(write_end)
    log = os.open(os.path.join(logdir, f"{port}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    children[pid] = (read_end, log)
    by_fd[read_end] = log
sys.stdout.write("spawned\n")
sys.stdout.flush()

while not stopping and children:
    ready, _, _ = select.select([_r, *by_fd], [], [], 1.0)
    for fd in ready:
        if fd == _r:
            os.read(_r, 512)
            continue
        data = os.read(fd, 65536)
        if data:
            os.write(by_fd[fd], data)
        else:
            del by_fd[fd]
    while children:
        pid, _status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        read_end, log = children.pop(pid)
        os.close(log)

for pid in children:
    os.kill(pid, signal.SIGTERM)
for pid in list(children):
    os.waitpid(pid, 0)
