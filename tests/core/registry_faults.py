"""A service whose launch is held until the registry is gone: PostgreSQL dies between launch
and record.

:meth:`RegistryKillingService.provision` launches the real process, then writes ``launched``
in ``$OUTLIVE_TEST_HANDSHAKE_DIR`` and waits for ``registry-gone`` there: the test kills the
server in between (from outside the host's PID namespace, where the server's pid lives), so
the save that records the process finds no server.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from plugin_core import CommandService

HANDSHAKE_ENV = "OUTLIVE_TEST_HANDSHAKE_DIR"


class RegistryKillingService(CommandService):
    """A command service whose launch pauses until the test has taken the registry away."""

    def provision(self) -> None:
        super().provision()
        handshake = Path(os.environ[HANDSHAKE_ENV])
        (handshake / "launched").write_text(str(self.status.supervisor_pid))
        deadline = time.monotonic() + 60
        while not (handshake / "registry-gone").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never took the registry away")
            time.sleep(0.01)
