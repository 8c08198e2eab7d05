"""Airflow 3 provider for outlive: operators, a sensor and a trigger over ``plugin_core``.

This module is imported by Airflow's provider discovery (``airflow providers list``) and by
every DAG file that imports an operator, so it imports nothing at all: the classes live in
``hooks``, ``operators``, ``sensors``, ``triggers`` and ``links``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]

_INTEGRATION = "Outlive"

# The connection form, declared as Airflow 3.2+ reads it (as the smtp provider does): extra
# fields stored in the connection's extra, labels and hints for the generic fields.
_CONN_FIELDS = {
    "path": {
        "label": "SQLite registry file",
        "schema": {"type": ["string", "null"]},
        "description": "Absolute path of a SQLite registry, e.g. /var/lib/outlive/registry.db.",
    },
    "url": {
        "label": "Registry URL",
        "schema": {"type": ["string", "null"]},
        "description": "Any SQLAlchemy URL; wins over the other fields.",
    },
}
_FIELD_BEHAVIOUR = {
    "hidden-fields": [],
    "relabeling": {
        "host": "PostgreSQL host",
        "schema": "Database",
        "login": "User",
        "password": "Password",
    },
    "placeholders": {
        "host": "leave empty for SQLite or a URL",
        "schema": "outlive",
        "port": "5432",
        "path": "/var/lib/outlive/registry.db",
        "url": "postgresql+psycopg://user:password@db/outlive",
    },
}


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
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": _FIELD_BEHAVIOUR,
            }
        ],
        "extra-links": ["airflow_ext.links.ServiceLink"],
    }
