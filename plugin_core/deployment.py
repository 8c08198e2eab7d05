"""``BaseDeploymentService``: ZenML's base for services that serve predictions.

Apart from :mod:`plugin_core.service` so that importing a service class (every DAG parse)
does not define this model too.
"""

from plugin_core.service import BaseService


class BaseDeploymentService(BaseService):
    """A service that serves predictions: adds ``prediction_url`` and ``healthcheck_url``."""

    @property
    def prediction_url(self) -> str | None:
        """Where to send prediction requests."""
        return self.get_prediction_url()

    @property
    def healthcheck_url(self) -> str | None:
        """Where the health monitor checks."""
        return self.get_healthcheck_url()
