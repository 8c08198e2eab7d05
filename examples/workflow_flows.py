"""Workflows served by ``workflow_service.py`` (a module, so the service's daemon can import it)."""

from __future__ import annotations

import asyncio

from plugin_core.workflow import current_task


async def summarise(text: str, max_words: int = 12) -> dict[str, object]:
    """A toy summariser: reports progress per sentence and counts calls in the session state."""
    task = current_task()
    sentences = [part.strip() for part in text.split(".") if part.strip()]
    for number, _sentence in enumerate(sentences, start=1):
        task.emit({"sentence": number, "of": len(sentences)})
        await asyncio.sleep(0.01)
    if task.session_id:
        await task.aupdate_session_state(
            lambda state: {**state, "calls": state.get("calls", 0) + 1}
        )
    words = " ".join(sentences[:1]).split()[:max_words]
    return {"summary": " ".join(words), "sentences": len(sentences)}
