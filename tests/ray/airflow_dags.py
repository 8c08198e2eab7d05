"""Airflow DAGs that deploy a model server to the Ray cluster and retire it, with the provider's
operators; run by ``airflow dags test`` in a subprocess (tests/ray/test_orchestrators.py).

    ray_deploy_model:  deploy_model (returns once Serve has the app)  >>  wait_until_serving
    ray_retire_model:  retire_model

The definition is the YAML a user would keep next to the DAG, templated with the run's
params (``--conf`` sets them): the run ends, and the app keeps serving on the cluster.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_ext.operators import StartServiceOperator, StopServiceOperator
from airflow_ext.sensors import ServiceActiveSensor

DEFINITION = """
type: ray-serve
config:
  name: {{ params.name }}
  import_path: model_app:app
  address: {{ params.address }}
  working_dir: {{ params.working_dir }}
  deployment: Model
  num_replicas: 2
  ray_actor_options: {num_cpus: 0.1}
  health_check_period_s: 1
endpoint:
  health: /{{ params.name }}/
"""
PARAMS = {"name": "dag-model", "address": "http://127.0.0.1:8265", "working_dir": "/srv/model"}
NO_RETRY = {"retries": 0}

with DAG("ray_deploy_model", schedule=None, params=PARAMS, default_args=NO_RETRY):
    deploy = StartServiceOperator(
        task_id="deploy_model", service=DEFINITION, wait_for_active=False, deferrable=False,
    )
    wait = ServiceActiveSensor(
        task_id="wait_until_serving", service_name="{{ params.name }}",
        poke_interval=2, timeout=300, deferrable=False,
    )
    deploy >> wait

with DAG("ray_retire_model", schedule=None, params=PARAMS, default_args=NO_RETRY):
    StopServiceOperator(task_id="retire_model", service_name="{{ params.name }}", stop_timeout=60)
