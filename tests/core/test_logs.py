"""Log reading: fast tails of big files, following across rotation, rotation by size."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from plugin_core import CommandService
from plugin_core.logs import follow_lines, tail_lines


def test_tail_reads_only_the_end_of_a_large_file(tmp_path: Path) -> None:
    """200 MB of log: the last lines come back without reading the whole file."""
    log = tmp_path / "big.log"
    line = b"x" * 1023 + b"\n"
    with open(log, "wb") as handle:
        block = line * 1024
        for _ in range(200):
            handle.write(block)
        handle.write(b"second to last\nlast\n")
    began = time.perf_counter()
    assert tail_lines(log, 2) == ["second to last", "last"]
    assert time.perf_counter() - began < 1.0  # generous: a full read would take far longer on CI disks


def test_tail_of_missing_file_is_empty(tmp_path: Path) -> None:
    assert tail_lines(tmp_path / "none.log", 5) == []


def test_follow_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    log.write_text("one\n")
    state = {"rounds": 0}

    def keep_going() -> bool:
        state["rounds"] += 1
        if state["rounds"] == 1:
            log.rename(tmp_path / "s.log.1")
            log.write_text("two\n")
        return state["rounds"] < 3

    assert list(follow_lines(log, tail=None, keep_going=keep_going, poll_interval=0.01)) == ["one", "two"]


@pytest.mark.integration
def test_chatty_service_log_is_rotated_by_size() -> None:
    """A service printing fast cannot grow its log beyond max_bytes x (backups + 1)."""
    chatter = "import sys\nfor i in range(200000): print('line', i)\nimport time; time.sleep(60)"
    service = CommandService.http("chatty", [sys.executable, "-c", chatter], log_max_bytes=100_000, log_backups=2)
    service.endpoint = None
    service.config.startsecs = 0.0
    service.start(timeout=20)
    runtime = Path(service.status.runtime_path or "")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "line 199999" not in "".join(service.get_logs(tail=1)):
        time.sleep(0.1)
    files = sorted(p.name for p in runtime.glob("service.log*"))
    assert files == ["service.log", "service.log.1", "service.log.2"]
    assert all(p.stat().st_size <= 100_000 + 65536 for p in runtime.glob("service.log*"))
    assert service.log_tail(1) == ["line 199999"]
