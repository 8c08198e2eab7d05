"""Airflow 3 provider for outlive: operators, a sensor and a trigger over ``plugin_core``.

This module is imported by Airflow's provider discovery (``airflow providers list``) and by
every DAG file that imports an operator, so it imports nothing at all: the classes live in
``hooks``, ``operators``, ``sensors``, ``triggers`` and ``links``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]

_INTEGRATION = "Outlive"


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow's providers manager.

    ``package-name`` must equal the distribution name ("outlive") or discovery refuses it.
    """
    return {
        "package-name": "outlive",
        "name": "Outlive",
        "description": (
            "Start, track, health-check and stop long-running services from Airflow tasks, "
            "so that a service started in a DAG outlives the DAG run."
        ),
        "integrations": [{"integration-name": _INTEGRATION, "tags": ["software"]}],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_ext.hooks"]}],
        "operators": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_ext.operators"]}
        ],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_ext.sensors"]}],
        "triggers": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_ext.triggers"]}
        ],
        "connection-types": [
            {
                "connection-type": "outlive",
                "hook-class-name": "airflow_ext.hooks.OutliveRegistryHook",
                "hook-name": "Outlive service registry",
            }
        ],
        "extra-links": ["airflow_ext.links.ServiceLink"],
    }
