"""``ServiceLink``: an extra link from a task to the service it started or changed.

In Airflow 3 the worker computes extra links right after ``execute`` (in the task runner's
finalize step) and stores them as XCom; the UI only reads them back. The operators keep the
URL on themselves (``service_url``) during execute, so the link needs no extra lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["ServiceLink"]


class ServiceLink(BaseOperatorLink):
    """Button "Service" on a task: opens the URL of the service the task handled."""

    name = "Service"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the service URL, or "" when the task has not handled a service yet."""
        url: Any = getattr(operator, "service_url", None)
        return str(url) if url else ""
