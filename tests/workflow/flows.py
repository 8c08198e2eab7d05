"""Workflows served by the workflow tests (imported by path, in-process and by daemons)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from plugin_core.workflow import current_task

_lock = threading.Lock()
running = 0
peak = 0
cancelled: list[str] = []


def add(a: int, b: int) -> int:
    """A plain sync callable: runs in a worker thread."""
    return a + b


async def echo(**kwargs: Any) -> dict[str, Any]:
    """An async callable that reports progress."""
    current_task().emit({"step": "start"})
    await asyncio.sleep(0)
    current_task().emit({"step": "done"})
    return {"echo": kwargs}


async def trivial(**kwargs: Any) -> int:
    """The benchmark's workflow: no work at all."""
    return len(kwargs)


class Greeter:
    """A workflow object: an async run(**kwargs), like a llama-index Workflow."""

    async def run(self, name: str = "world") -> str:
        for step in ("parse", "greet"):
            current_task().emit({"step": step})
            await asyncio.sleep(0.01)
        return f"hello {name}"


async def tracked(seconds: float = 0.05) -> int:
    """Sleep while counting how many of us run at once (``peak``)."""
    global running, peak
    with _lock:
        running += 1
        peak = max(peak, running)
    try:
        await asyncio.sleep(seconds)
    finally:
        with _lock:
            running -= 1
    return peak


async def sleepy(seconds: float = 10.0) -> str:
    """Sleep, and remember being cancelled."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        cancelled.append(current_task().task_id)
        raise
    return "woke"


def blocking(seconds: float = 10.0, fail: bool = False) -> str:
    """A sync call that cannot be interrupted (and may fail once it finally ends)."""
    time.sleep(seconds)
    if fail:
        raise RuntimeError("failed after its deadline")
    return "done"


def boom(message: str = "bad input") -> None:
    """Always fails."""
    raise ValueError(message)


async def count_visits(**_: Any) -> int:
    """Increment the task's session counter and return it (state survives restarts)."""
    state = await current_task().aupdate_session_state(
        lambda state: {**state, "visits": state.get("visits", 0) + 1}
    )
    return int(state.state["visits"])


async def logged(index: int, seconds: float = 0.0) -> dict[str, Any]:
    """Append ``task_id pid`` to ``$WF_TEST_LOG`` (O_APPEND): who ran what, and how often."""
    if seconds:
        await asyncio.sleep(seconds)
    line = f"{current_task().task_id} {os.getpid()}\n".encode()
    fd = os.open(os.environ["WF_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return {"index": index, "pid": os.getpid()}
