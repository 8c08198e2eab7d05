"""Serve a Python coroutine over HTTP as a service that outlives this script.

``start_service`` launches it as a detached daemon and waits on its ``/readyz``;
then a client runs tasks, streams progress events and reads session state.
Delivery is at-least-once (a task running when its process dies runs again, and
its ``attempts`` says so), so submissions carry an idempotency key.
Run it from the repository root::

    python examples/workflow_service.py

The same service could be started from a Prefect task or an Airflow operator
and found later by name (``outlive status example-summariser``).
"""

from __future__ import annotations

from plugin_core import start_service, stop_service
from plugin_core.workflow import WorkflowService

TEXT = "Outlive starts services from pipeline steps. They keep running after the run. Anyone can find them."


def main() -> None:
    """Start, use and stop the workflow service."""
    service = start_service(
        WorkflowService.for_workflow(
            "workflow_flows:summarise", "example-summariser", max_concurrent_tasks=4
        ),
        timeout=60,
    )
    print(f"serving at {service.base_url} (health: {service.healthcheck_url})")
    try:
        with service.client() as client:
            print("run:", client.run(text=TEXT))
            # An idempotency key makes a retried submission safe: the same key, the same task.
            task_id = client.submit({"text": TEXT}, session_id="demo", idempotency_key="demo-1")
            assert client.submit({"text": TEXT}, idempotency_key="demo-1") == task_id
            for event in client.stream_events(task_id):
                print("event:", event.data)
            print("result:", client.wait(task_id).result)
            print("session:", client.get_session_state("demo").state)
        print("replicas:", [replica.url for replica in service.replicas(alive=True)])
    finally:
        stop_service(service)
        print("stopped; replicas left:", service.replicas())


if __name__ == "__main__":
    main()
