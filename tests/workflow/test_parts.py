"""The workflow service's parts on their own: settings, loading, session store, queues."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from plugin_core import ConcurrentUpdateError, ConfigError
from plugin_core.workflow import SessionStore, TaskRecord, TaskState, WorkflowLoadError
from plugin_core.workflow.config import WorkflowServiceConfig, workflow_env
from plugin_core.workflow.queue_sqlite import SQLiteTaskQueue
from plugin_core.workflow.target import load_target

pytestmark = pytest.mark.integration


class TestWorkflowServiceConfig:
    def test_reads_prefixed_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """OUTLIVE_WORKFLOW_* variables fill the config; explicit overrides win."""
        monkeypatch.setenv("OUTLIVE_WORKFLOW_NAME", "summariser")
        monkeypatch.setenv("OUTLIVE_WORKFLOW_WORKFLOW", "app.flows:summarise")
        monkeypatch.setenv("OUTLIVE_WORKFLOW_MAX_CONCURRENT_TASKS", "3")
        monkeypatch.setenv("OUTLIVE_WORKFLOW_LABELS", '{"team": "nlp"}')
        config = WorkflowServiceConfig.from_env(port=8123)
        assert (config.service_name, config.workflow) == ("summariser", "app.flows:summarise")
        assert (config.max_concurrent_tasks, config.port, config.labels) == (
            3,
            8123,
            {"team": "nlp"},
        )

    def test_environment_round_trip(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """workflow_env() writes what from_env() reads back: the container recipe."""
        config = WorkflowServiceConfig(
            name="w", workflow="m:f", max_queued_tasks=5, labels={"a": "b"}, task_timeout=None
        )
        env = workflow_env(config, internal_host="0.0.0.0")
        assert env["OUTLIVE_WORKFLOW_INTERNAL_HOST"] == "0.0.0.0"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        loaded = WorkflowServiceConfig.from_env()
        assert loaded == config.model_copy(update={"internal_host": "0.0.0.0"})

    def test_round_trips_through_the_registry_format(self) -> None:
        """The config is a typed model: JSON loads back into a WorkflowServiceConfig."""
        config = WorkflowServiceConfig(name="w", workflow="m:f", task_timeout=2.5)
        assert WorkflowServiceConfig.from_json(config.to_json()) == config

    def test_rejects_a_workflow_that_is_not_an_import_path(self) -> None:
        """A bad workflow path fails at definition time, naming the field."""
        with pytest.raises(ConfigError, match="workflow"):
            WorkflowServiceConfig.from_dict({"name": "w", "workflow": "not-a-path"})


class TestLoadTarget:
    def test_names_the_missing_module(self) -> None:
        """An import path that does not import says which module and how to fix it."""
        with pytest.raises(WorkflowLoadError, match="no_such_module"):
            load_target("no_such_module:run")

    def test_names_the_missing_attribute(self) -> None:
        """An import path to a missing attribute says so."""
        with pytest.raises(WorkflowLoadError, match="nope"):
            load_target("tests.workflow.flows:nope")

    def test_classifies_callables(self) -> None:
        """Sync functions run in threads; coroutines and workflow objects on the loop."""
        assert load_target("tests.workflow.flows:add").in_thread
        assert not load_target("tests.workflow.flows:echo").in_thread
        assert not load_target("tests.workflow.flows:Greeter").in_thread


class TestSessionStore:
    def test_concurrent_writers_lose_no_update(self, registry_url: str) -> None:
        """Four threads incrementing one counter 50 times each end at exactly 200."""
        store = SessionStore(registry_url)

        def bump() -> None:
            for _ in range(50):
                store.modify("shared", lambda state: {"n": state.get("n", 0) + 1})

        threads = [threading.Thread(target=bump) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        state = store.get("shared")
        assert state.state == {"n": 200} and state.version == 200

    def test_stale_conditional_write_is_refused(self, registry_url: str) -> None:
        """A write naming an old version raises ConcurrentUpdateError and changes nothing."""
        store = SessionStore(registry_url)
        store.put("s", {"a": 1})
        with pytest.raises(ConcurrentUpdateError):
            store.put("s", {"a": 2}, expected_version=0)
        assert store.get("s").state == {"a": 1}

    def test_state_must_be_json(self, registry_url: str) -> None:
        """Non-JSON values are refused (nothing is ever pickled)."""
        with pytest.raises(ConfigError, match="JSON"):
            SessionStore(registry_url).put("s", {"when": object()})


class TestSQLiteTaskQueue:
    def test_orphaned_running_task_is_requeued(self, tmp_path: Path) -> None:
        """A task left RUNNING by a replica that is gone goes back to QUEUED on recovery."""

        async def scenario() -> tuple[TaskRecord | None, int, TaskRecord | None]:
            queue = SQLiteTaskQueue(str(tmp_path / "q.db"))
            await queue.open()
            await queue.put(TaskRecord(task_id="t1"), limit=10)
            claimed = await queue.claim("dead-replica", wait=0.1)
            recovered = await queue.recover("new-replica", live_replicas={"new-replica"})
            again = await queue.claim("new-replica", wait=0.1)
            await queue.close()
            return claimed, recovered, again

        claimed, recovered, again = asyncio.run(scenario())
        assert claimed is not None and claimed.state == TaskState.RUNNING
        assert recovered == 1
        assert again is not None and again.task_id == "t1" and again.attempts == 2

    def test_intake_limit_refuses_past_the_limit(self, tmp_path: Path) -> None:
        """put returns None once ``limit`` tasks wait, and the stored backlog stays bounded."""

        async def scenario() -> tuple[list[bool], int]:
            queue = SQLiteTaskQueue(str(tmp_path / "q.db"))
            await queue.open()
            accepted = [await queue.put(TaskRecord(), limit=3) is not None for _ in range(5)]
            backlog = await queue.backlog()
            await queue.close()
            return accepted, backlog

        assert asyncio.run(scenario()) == ([True, True, True, False, False], 3)


def test_importing_the_package_stays_cheap() -> None:
    """``import plugin_core.workflow`` (and loading a service record) never imports FastAPI."""
    code = (
        "import sys, plugin_core, plugin_core.workflow, plugin_core.workflow.service\n"
        "heavy = [m for m in ('fastapi', 'uvicorn', 'starlette', 'redis') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
