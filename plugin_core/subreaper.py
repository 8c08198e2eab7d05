"""How the launched supervisor becomes a child subreaper before its service exists.

``PR_SET_CHILD_SUBREAPER`` survives ``execve``, so whatever sets it on the launched process
before its first exec makes the shell launcher, and the supervisor it becomes, the reaper of
every orphan below it from the very first instant: no double-fork, however early, can
reparent a process to init (``tests/core/test_stop_truth.py`` holds us to that).

Two ways, the same guarantee:

* a tiny native program (:data:`WRAPPER_SOURCE`), compiled once per machine with the system C
  compiler into ``$XDG_CACHE_HOME/outlive``: ``prctl``, then it is the launcher itself
  (``--launch``: it starts the service and execs the supervisor, as the /bin/sh launcher of
  :mod:`plugin_core.processes` does, about 1 ms sooner on the service's start path: no shell
  to start and parse) or execs a program. The launch then needs no Python code in the child,
  so ``subprocess`` uses ``vfork``: a fork of a 30-150 MB caller (a worker, a notebook) costs
  5-40 ms, a vfork well under one;
* without a compiler (or where the cache cannot hold an executable), a ``preexec_fn`` that
  makes the same ``prctl`` call between fork and exec, in front of the /bin/sh launcher:
  correct, but it forces a real fork.

A ``run()`` daemon forked from its starter (:mod:`plugin_core.fork_launch`) gets the same
guarantee a third way: the forked process that will exec the supervisor makes that call
itself before it forks the daemon.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
WRAPPER_SOURCE = b"""\
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
/* outlive-subreaper PROGRAM ARGS...: become a child subreaper, then exec PROGRAM.
 * outlive-subreaper --launch N CWD log|nolog FIFO SUPERVISOR[N] SERVICE...: become a child
 * subreaper, then do what plugin_core.processes._LAUNCHER does with /bin/sh: start SERVICE in
 * CWD (PWD and OLDPWD set as cd sets them, stdin /dev/null, output on fd 3: the FIFO opened
 * read-write, or /dev/null; SIGINT and SIGQUIT ignored, as for a shell's background job), then exec SUPERVISOR --adopt PID log|nolog
 * keeping fd 3. */
static int launch(int argc, char **argv) {
    int n = argc > 2 ? atoi(argv[2]) : 0;
    if (n < 1 || argc < 7 + n) return 127;
    char *cwd = argv[3], *mode = argv[4], *fifo = argv[5];
    char **supervisor = argv + 6, **service = argv + 6 + n;
    int out = strcmp(mode, "log") == 0 ? open(fifo, O_RDWR) : open("/dev/null", O_WRONLY);
    if (out < 0 || (out != 3 && (dup2(out, 3) < 0 || close(out) != 0))) return 127;
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(3, 1) < 0 || dup2(3, 2) < 0) _exit(127);
        if (in > 2) close(in);
        close(3);
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        char before[4096], after[4096];
        if (getcwd(before, sizeof before) == NULL) before[0] = 0;
        if (chdir(cwd) != 0) {
            dprintf(2, "outlive-launcher: cd %s: %s\\n", cwd, strerror(errno));
            _exit(2);
        }
        /* as the shell's cd: PWD the new directory, OLDPWD the one before */
        setenv("OLDPWD", before, 1);
        setenv("PWD", cwd[0] == '/' || getcwd(after, sizeof after) == NULL ? cwd : after, 1);
        execvp(service[0], service);
        dprintf(2, "outlive-launcher: %s: %s\\n", service[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    char pid_text[24];
    char *args[n + 4];
    snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
    memcpy(args, supervisor, n * sizeof *args);
    args[n] = "--adopt";
    args[n + 1] = pid_text;
    args[n + 2] = mode;
    args[n + 3] = NULL;
    execv(supervisor[0], args);
    return 127;
}
int main(int argc, char **argv) {
    if (argc < 2 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return 127;
    if (strcmp(argv[1], "--launch") == 0) return launch(argc, argv);
    execv(argv[1], argv + 1);
    return 127;
}
"""
_LOCK = threading.Lock()
_WRAPPER: list[str] | None = None  # [path] once built, [] when this machine cannot build it
_SETTER: Callable[[], None] | None = None


def subreaper_launch() -> tuple[list[str], Callable[[], None] | None]:
    """``(argv prefix, preexec_fn)`` that make the launched program a child subreaper:
    ``([wrapper], None)`` when the native wrapper is available (it also takes ``--launch``),
    else ``([], setter)``."""
    global _WRAPPER
    with _LOCK:
        if _WRAPPER is None:
            wrapper = _built_wrapper()
            _WRAPPER = [str(wrapper)] if wrapper is not None else []
    if _WRAPPER:
        return list(_WRAPPER), None
    return [], subreaper_setter()


def _wrapper_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(WRAPPER_SOURCE + os.uname().machine.encode()).hexdigest()[:12]
    return Path(cache) / "outlive" / f"subreaper-{digest}"


def _built_wrapper() -> Path | None:
    """The compiled wrapper (built now if missing), or None if it cannot be built and run here."""
    path = _wrapper_path()
    if not (os.access(path, os.X_OK) and _works(path)):
        try:
            _compile(path)
        except (OSError, ValueError):
            return None
        if not _works(path):
            return None
    return path


def _compile(path: Path) -> None:
    import shutil
    import subprocess

    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise ValueError("no C compiler")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    source = path.with_name(f".{path.name}.{os.getpid()}.c")
    binary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    source.write_bytes(WRAPPER_SOURCE)
    try:
        subprocess.run(
            [compiler, "-O2", "-o", str(binary), str(source)],
            check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        os.chmod(binary, 0o700)
        os.replace(binary, path)  # atomic: concurrent builders each install a complete file
    except subprocess.SubprocessError as exc:
        raise ValueError(f"compiling the subreaper wrapper failed: {exc}") from None
    finally:
        source.unlink(missing_ok=True)
        binary.unlink(missing_ok=True)


def _works(path: Path) -> bool:
    """The wrapper runs here (not on a noexec mount, not built for another machine) and execs."""
    import subprocess

    try:
        done = subprocess.run(
            [str(path), "/bin/sh", "-c", "exit 3"], capture_output=True, timeout=10,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 3


def subreaper_setter() -> Callable[[], None]:
    """A function that makes the calling process a child subreaper (Linux ``prctl``), for
    ``preexec_fn`` or a forked child. The ctypes lookup happens here, in the parent; the
    child only calls."""
    global _SETTER
    if _SETTER is None:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        prctl.restype = ctypes.c_int

        def become_subreaper() -> None:
            if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")

        _SETTER = become_subreaper
    return _SETTER
