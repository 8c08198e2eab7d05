"""Daemon entrypoint: load a LocalDaemonService back from its config file and call ``run()``.

Run by the supervisor as ``python -m plugin_core.backends._daemon SERVICE_JSON``, or called
in a daemon forked from its starter (:func:`run_in_fork`, see :mod:`plugin_core.fork_launch`),
which then loads the service from the same file the same way. It imports
only plugin_core and the service's own module. SIGTERM raises ``SystemExit`` so that a plain
``run()`` loop ends (``finally`` blocks and context managers still run).

A service class defined in the script its starter ran is loaded from that script as
``__mp_main__``, which then also becomes ``__main__`` here, as in a ``multiprocessing`` spawn
child: code in ``run()`` that pickles its own functions or spawns workers finds them.
"""

from __future__ import annotations

import signal
import sys
import traceback
from types import FrameType


def _exit_on_term(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_term)
    from plugin_core.backends.local import LocalDaemonService

    try:
        with open(argv[1]) as handle:
            service: LocalDaemonService = LocalDaemonService.from_json(handle.read())
        if type(service).__module__ == "__mp_main__":
            sys.modules["__main__"] = sys.modules["__mp_main__"]
        service.run()
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    return 0


def run_in_fork(config_file: str) -> int:
    """:func:`main` in a daemon forked from its starter, with the ``sys.argv`` that
    ``python -m plugin_core.backends._daemon CONFIG`` would have given it."""
    sys.argv = [__file__, config_file]
    return main(sys.argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
