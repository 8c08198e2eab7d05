"""Real llama-index workflows (``llama-index-workflows``) served by the llama_deploy-style tests."""

from __future__ import annotations

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Progress(Event):
    """A progress event written to the workflow's stream."""

    msg: str


class EchoFlow(Workflow):
    """Answers ``echo <topic>``."""

    @step
    async def answer(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Progress(msg="answering"))
        return StopEvent(result=f"echo {ev.get('topic', '')}")


class CounterFlow(Workflow):
    """Counts its runs in its context: one session's runs see the same count."""

    @step
    async def count(self, ctx: Context, ev: StartEvent) -> StopEvent:
        visits = await ctx.store.get("visits", default=0) + 1
        await ctx.store.set("visits", visits)
        return StopEvent(result=visits)


class AskFlow(Workflow):
    """Waits for a human's answer (a SEND_EVENT message), then returns it."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="name?")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"hello {ev.response}")


echo_flow = EchoFlow(timeout=30)
counter_flow = CounterFlow(timeout=30)
ask_flow = AskFlow(timeout=60)
