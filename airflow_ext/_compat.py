"""The only place that knows which Airflow 3.x release moved what.

Supported: Airflow 3.1 to 3.3 (task SDK 1.1 to 1.3). Airflow 2 is not supported: the
adapter relies on the task SDK's process model (a supervised task runner) and on
``airflow.sdk`` authoring imports.
"""

from __future__ import annotations

try:  # task SDK >= 1.2 owns the task-facing exceptions
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
    )
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
    )

try:
    from airflow.sdk import conf
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment,unused-ignore]

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "conf",
    "default_deferrable",
]


def default_deferrable() -> bool:
    """Read ``[operators] default_deferrable`` the way Airflow's own operators do."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
