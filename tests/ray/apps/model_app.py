"""A small model server for the Ray tests, shipped to the cluster as the ``working_dir``.

``GET /`` answers with a prediction and the replica's pid and node, so tests can tell
replicas apart; ``/health`` is what outlive probes. ``MODEL_VERSION`` (an env var) is echoed,
as is the content of ``version.txt`` in the working_dir when there is one, so a changed
definition or a changed file is visibly served. ``check_health`` fails while the file named by
``UNHEALTHY_FLAG`` exists, which lets a test make a replica unhealthy from outside.
"""

import logging
import os

from ray import serve
from starlette.requests import Request


@serve.deployment
class Model:
    def __init__(self) -> None:
        self.version = os.environ.get("MODEL_VERSION", "1")
        if os.path.exists("version.txt"):
            with open("version.txt") as handle:
                self.version = handle.read().strip()

    async def __call__(self, request: Request) -> dict[str, object]:
        context = serve.get_replica_context()
        logging.getLogger("ray.serve").info("predicting for %s", request.url.path)
        return {
            "prediction": len(request.url.path) * 2,
            "version": self.version,
            "pid": os.getpid(),
            "replica": context.replica_id.unique_id,
        }

    def check_health(self) -> None:
        flag = os.environ.get("UNHEALTHY_FLAG")
        if flag and os.path.exists(flag):
            raise RuntimeError(f"unhealthy: {flag} exists")


app = Model.bind()
