"""A Prefect Automation that restarts an outlive service when it dies after its flow ended.

    outlive watch --service --prefect                   # once: the watcher, itself a service
    python examples/prefect_restart_on_died.py serve    # the deployment the Automation runs
    python examples/prefect_restart_on_died.py automate # create the Automation (once)

The watcher emits ``outlive.service.died`` (resource ``outlive.service.<uuid>``, named after
the service); the Automation runs the ``restart-outlive-service`` deployment with that name,
and the flow starts the service again from the block saved under the same name.
"""

from __future__ import annotations

import sys

from prefect import flow
from prefect.automations import Automation, EventTrigger, Posture, RunDeployment

from prefect_ext import CommandServiceBlock, start_service

DEPLOYMENT = "restart-outlive-service/on-died"


@flow(name="restart-outlive-service")
def restart_service(name: str) -> dict[str, object]:
    """Start the service again from the block saved under its name (``block.save(name)``)."""
    return start_service(CommandServiceBlock.load(name), timeout=120)


def died_trigger() -> EventTrigger:
    """Fires once per ``outlive.service.died`` of any outlive service."""
    return EventTrigger(
        expect={"outlive.service.died"},
        match={"prefect.resource.id": "outlive.service.*"},
        posture=Posture.Reactive,
        threshold=1,
    )


def restart_automation(deployment_id: str) -> Automation:
    """The Automation: on ``died``, run the restart deployment for the service that died."""
    return Automation(
        name="restart outlive services that die",
        description="outlive watch reported a crash after the run: start the service again",
        trigger=died_trigger(),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={"name": "{{ event.resource['prefect.resource.name'] }}"},
            )
        ],
    )


def main(argv: list[str]) -> None:
    command = argv[0] if argv else ""
    if command == "serve":
        restart_service.serve(name="on-died")
    elif command == "automate":
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(DEPLOYMENT)
        created = restart_automation(str(deployment.id)).create()
        print(f"created automation {created.id}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
