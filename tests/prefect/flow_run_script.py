"""A flow run as a worker runs it: its own process, its own temporary cwd, stdout piped.

    python flow_run_script.py SERVICE_NAME exit   # start the service, finish the run
    python flow_run_script.py SERVICE_NAME hang   # start it, then block until killed

The started service's info is printed as one JSON line prefixed ``SERVICE:``.
"""

from __future__ import annotations

import json
import sys
import time

from prefect import flow

from prefect_ext import CommandServiceBlock, start_service


@flow(name="start-and-leave")
def start_and_leave(service_name: str, hang: bool) -> dict[str, object]:
    """Start a file server that must outlive this run; optionally never finish (to be killed)."""
    block = CommandServiceBlock(
        service_name=service_name,
        command=[sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"],
        labels={"test": "flow-run-script"},
    )
    info = start_service(block, timeout=60)
    print("SERVICE:" + json.dumps(info), flush=True)
    while hang:
        time.sleep(1)
    return info


if __name__ == "__main__":
    start_and_leave(sys.argv[1], hang=sys.argv[2] == "hang")
