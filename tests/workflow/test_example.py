"""examples/workflow_service.py, run as a user runs it: a fresh process, then what it left."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.examples.test_examples import run_example

pytestmark = pytest.mark.integration


def test_workflow_example_runs(outlive_home: Path) -> None:
    out = run_example("workflow_service.py", outlive_home)
    assert "serving at http://127.0.0.1:" in out
