"""The ``outlive`` command line (click; rich for the views that need it).

Imported only when the CLI runs, so ``import plugin_core`` never pays for click or rich.
"""

from __future__ import annotations

from plugin_core.cli import watching as _watching  # noqa: F401 - registers events, watch
from plugin_core.cli.app import app, main

__all__ = ["app", "main"]
