"""A Prefect flow that deploys a model server to the Ray cluster, run as its own process.

The definition is the YAML a user would keep next to the flow; the flow run ends (and its
process exits) while the Serve app keeps serving on the cluster.
"""

from __future__ import annotations

import json
import sys

from prefect import flow

from prefect_ext import start_service

DEFINITION = """
type: ray-serve
config:
  name: {name}
  import_path: model_app:app
  address: {address}
  working_dir: {working_dir}
  deployment: Model
  num_replicas: 2
  ray_actor_options: {{num_cpus: 0.1}}
  health_check_period_s: 1
endpoint:
  health: /{name}/
"""


@flow(name="deploy-model-to-ray")
def deploy_model(name: str, address: str, working_dir: str) -> dict[str, object]:
    return start_service(DEFINITION.format(name=name, address=address, working_dir=working_dir))


if __name__ == "__main__":
    print(json.dumps(deploy_model(*sys.argv[1:4])))
