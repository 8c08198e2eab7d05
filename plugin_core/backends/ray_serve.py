"""``RayServeService``: a Serve application on a Ray cluster, deployed over the dashboard's REST API.

The service definition names the app by import path (``module:app``, as ``serve run`` takes
it), the code to ship (``working_dir``: a local directory, uploaded under a content-hash name),
its scale and resources (``num_replicas``, ``ray_actor_options`` with fractional CPUs), its
route and Serve's own health-check timing, and the cluster (``address``: the dashboard URL;
default ``$RAY_DASHBOARD_ADDRESS``, or ``$RAY_ADDRESS`` when it is an HTTP URL).

The lifecycle, as for every backend, goes through :mod:`plugin_core.lifecycle`:

* start adds the app to the cluster's declarative config (one document per cluster: read,
  modify and write it holding the registry's claim on the cluster, so two pipelines deploying
  at once never drop each other's apps; a PostgreSQL registry makes that hold across
  machines) and waits until Serve says RUNNING *and* our HTTP probe
  of the route answers within the probe's short timeout (Serve can hang requests while
  unhealthy); a failed deploy raises with Serve's message (its PUT answers 200 regardless);
* a changed definition is applied in place: Serve scales 1 -> 3 replicas keeping the running
  ones, and rolls code changes replica by replica;
* stop removes only this app from the config (never ``DELETE``, which shuts all of Serve down);
* status maps Serve's app, deployment and replica states (:mod:`._serve_state`);
* logs are the replicas' log files, read or followed through Ray's log API.

The app carries ``OUTLIVE_SERVICE_UUID`` in its ``runtime_env``: outlive never replaces or
removes an app of that name that is not this service's.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, model_validator

from plugin_core.backends._serve_api import RayClusterError, ServeApi, package_directory
from plugin_core.backends._serve_logs import follow_logs, read_logs
from plugin_core.backends._serve_model import (
    RayActorOptions,
    RayServeEndpoint,
    RayServeServiceConfig,
    RayServeServiceStatus,
)
from plugin_core.backends._serve_state import judge
from plugin_core.backends.contract import bounded_grace
from plugin_core.errors import ConfigError
from plugin_core.model.duck_serialized import DuckSerialized
from plugin_core.model.endpoint import (
    ServiceEndpointConfig,
    ServiceEndpointProtocol,
)
from plugin_core.model.probe_policy import ProbePolicy
from plugin_core.model.service_type import ServiceType
from plugin_core.model.standard_monitors import (
    HTTPEndpointHealthMonitor,
    HTTPEndpointHealthMonitorConfig,
)
from plugin_core.model.state import ServiceState
from plugin_core.service import BaseService
from plugin_core.waiting import wait_until

__all__ = [
    "RayActorOptions",
    "RayClusterError",
    "RayServeEndpoint",
    "RayServeService",
    "RayServeServiceConfig",
    "RayServeServiceStatus",
]

UUID_ENV = "OUTLIVE_SERVICE_UUID"
CLAIM_SCOPE = "ray-serve-config"

#: While an app deploys, Serve's status is read at most this often. In between, a look is the
#: route's probe alone: the proxy answers it in a millisecond or two, while the dashboard's
#: status read takes 40-200 ms of a core the deploy itself needs (traced on a 2-core machine:
#: a read every 0.1-0.3 s during the ~3 s deploy). The route answering brings a read at once.
SERVE_READ_GAP = 0.5

#: The waits of a Serve app whose monitor sets no probe policy: looks 20 ms apart for the first
#: 10 s (a look is mostly the route's probe: see SERVE_READ_GAP), so the app is seen ready
#: within a poll of it, as by a hand-written poll of the route, then backing off as usual.
SERVE_PROBES = ProbePolicy(initial_interval=0.02, fast_phase=10.0)


class RayServeService(BaseService):
    """A Serve application on a Ray cluster, reached over HTTP through Serve's proxy."""

    SERVICE_TYPE: ClassVar[ServiceType] = ServiceType(
        type="cluster", flavor="ray-serve", name="Ray Serve",
        description="A Ray Serve application on a Ray cluster",
    )

    config: DuckSerialized[RayServeServiceConfig]
    status: DuckSerialized[RayServeServiceStatus] = Field(default_factory=RayServeServiceStatus)
    endpoint: DuckSerialized[RayServeEndpoint] | None = None

    # Serve's last verdict during a deploy and when it was read (see SERVE_READ_GAP).
    _serve_verdict: tuple[ServiceState, str] | None = PrivateAttr(default=None)
    _serve_read_at: float = PrivateAttr(default=0.0)

    @model_validator(mode="after")
    def _watched_every_20_ms_by_default(self) -> RayServeService:
        """SERVE_PROBES for a monitor whose probe policy was not given: made by http(), or by a
        definition's ``endpoint.health`` (a Prefect block, an Airflow operator, a YAML file).
        On copies: the caller's endpoint and monitor objects keep their own policy."""
        endpoint = self.endpoint
        monitor = endpoint.monitor if endpoint is not None else None
        if endpoint is None or monitor is None or "probe" in monitor.config.model_fields_set:
            return self
        config = monitor.config.model_copy(update={"probe": SERVE_PROBES})
        monitor = monitor.model_copy(update={"config": config})
        # as BaseService names a nameless config: set on this service only, not re-validated
        object.__setattr__(self, "endpoint", endpoint.model_copy(update={"monitor": monitor}))
        return self

    @classmethod
    def http(cls, name: str, import_path: str, *, health_path: str = "/",
             **config: Any) -> RayServeService:
        """A Serve app probed over HTTP on ``route_prefix + health_path``: the usual case."""
        service_config = RayServeServiceConfig(name=name, import_path=import_path, **config)
        path = service_config.route_prefix.rstrip("/") + "/" + health_path.lstrip("/")
        return cls(config=service_config, endpoint=RayServeEndpoint(
            config=ServiceEndpointConfig(protocol=ServiceEndpointProtocol.HTTP),
            monitor=HTTPEndpointHealthMonitor(
                config=HTTPEndpointHealthMonitorConfig(healthcheck_uri_path=path)
            ),
        ))

    @property
    def app_name(self) -> str:
        """The Serve application's name: the service's name."""
        return self.config.service_name

    def api(self) -> ServeApi:
        """The cluster's dashboard API, for this service."""
        return ServeApi(self.config.address, self.config.service_name)

    # -- backend contract -----------------------------------------------------------------------

    def provision(self) -> None:
        """Put this app into the cluster's config (in place if it is there), without waiting."""
        api = self.api()
        self.status.reset_for_launch()
        self._serve_verdict = None  # a new deploy: Serve is read on the first look
        app = self.app_config(self._runtime_env(api))
        with self._config_claim():
            config = api.config()
            others = [a for a in config["applications"] if a.get("name") != self.app_name]
            for existing in config["applications"]:
                if existing.get("name") == self.app_name:
                    self._require_ours(existing, "replace")
            config["applications"] = [*others, app]
            api.put_config(config)
        self._place_endpoint(api.status())

    def deprovision(self, force: bool = False) -> None:
        """Remove only this app from the config, then wait (unless ``force``) until it is gone."""
        self._remove(bounded_grace(self.config.stop_grace_period, force=force))

    def deprovision_within(self, timeout: float, force: bool = False) -> None:
        """Like :meth:`deprovision`, waiting at most ``timeout`` seconds for Serve to finish."""
        self._remove(bounded_grace(self.config.stop_grace_period, timeout, force))

    def _remove(self, wait: float) -> None:
        api = self.api()
        with self._config_claim():
            config = api.config()
            ours = [a for a in config["applications"] if a.get("name") == self.app_name]
            if not ours or not self._is_ours(ours[0]):
                return
            config["applications"] = [
                a for a in config["applications"] if a.get("name") != self.app_name
            ]
            api.put_config(config)
        if wait > 0:
            wait_until(lambda: self._gone(api), timeout=wait, policy=self.probe_policy)

    def hand_over(self, successor: BaseService) -> None:
        """A changed definition of this app is applied in place by the successor's PUT: Serve
        scales or rolls the replicas itself. Anything else replaces it the usual way."""
        same_app = (
            isinstance(successor, RayServeService)
            and successor.app_name == self.app_name
            and successor.config.address == self.config.address
            and successor.uuid == self.uuid
        )
        if not same_app:
            self.deprovision()

    def check_status(self) -> tuple[ServiceState, str]:
        """Serve's view of the app (and its replicas), mapped by :mod:`._serve_state`; during a
        deploy, read at most every SERVE_READ_GAP while the route does not answer."""
        unchanged = self._verdict_while_deploying()
        if unchanged is not None:
            return unchanged
        verdict = self._read_serve_status()
        deploying = verdict[0] == ServiceState.PENDING_STARTUP
        self._serve_verdict = verdict if deploying else None
        self._serve_read_at = time.monotonic()
        return verdict

    def _verdict_while_deploying(self) -> tuple[ServiceState, str] | None:
        """Serve's "deploying" verdict again, when it was read less than SERVE_READ_GAP ago
        and the route's probe still fails (a new read could not say more yet); else None."""
        verdict = self._serve_verdict
        if verdict is None or self.admin_state != ServiceState.ACTIVE:
            return None
        if time.monotonic() - self._serve_read_at >= SERVE_READ_GAP:
            return None
        if self.endpoint is None or self.endpoint.monitor is None:
            return None
        return None if self.endpoint.probe(self.probe_policy.timeout).ok else verdict

    def _read_serve_status(self) -> tuple[ServiceState, str]:
        try:
            status = self.api().status(timeout=5.0)
        except RayClusterError as exc:
            return ServiceState.ERROR, str(exc)
        app = (status.get("applications") or {}).get(self.app_name)
        stopping = self.admin_state == ServiceState.INACTIVE
        if app is not None and not self._is_ours(app.get("deployed_app_config") or {}):
            if not stopping:
                return ServiceState.ERROR, (
                    f"Serve application {self.app_name!r} on {self.config.address} was "
                    "replaced by a deployment that is not this service's"
                )
            app = None  # someone else's app of that name: ours is gone
        view = judge(app, name=self.app_name, address=self.config.address, stopping=stopping)
        self.status.serve_status = view.serve_status
        self.status.serve_message = view.serve_message
        self.status.replica_states = view.replica_states
        self.status.replica_nodes = view.replica_nodes
        self.status.target_replicas = view.target_replicas
        self.status.dead_replicas = view.dead_replicas
        if app is not None and self.endpoint is not None and self.endpoint.status.port is None:
            self._place_endpoint(status)
        return view.state, view.message

    def get_logs(
        self, follow: bool = False, tail: int | None = None
    ) -> Generator[str, bool, None]:
        """The last ``tail`` lines of each replica's log file (Serve's ``log_file_path``, read
        through Ray's log API), prefixed with the replica's id; with ``follow``, then new lines
        as they are written, streamed from the nodes (:mod:`._serve_logs`), until the app is
        gone or the caller sends ``True``, as in ZenML."""
        api = self.api()
        if follow:
            yield from follow_logs(api, self.app_name, tail)
            return
        for replica_id, lines in read_logs(api, self.app_name, tail):
            for line in lines:
                if (yield f"[{replica_id}] {line}"):
                    return

    def get_prediction_url(self) -> str | None:
        """The proxy's URL of this app: route prefix plus ``prediction_path``."""
        if self.endpoint is None or self.endpoint.status.uri is None:
            return None
        path = self.config.route_prefix.rstrip("/")
        if self.config.prediction_path:
            path += "/" + self.config.prediction_path.lstrip("/")
        return self.endpoint.status.uri + (path or "/")

    # -- the app's config -----------------------------------------------------------------------

    def app_config(self, runtime_env: dict[str, Any]) -> dict[str, Any]:
        """This app's entry in Serve's declarative config."""
        config = self.config
        app: dict[str, Any] = {
            "name": self.app_name, "import_path": config.import_path,
            "route_prefix": config.route_prefix, "runtime_env": runtime_env,
        }
        deployment: dict[str, Any] = {"name": config.deployment}
        for field in ("num_replicas", "health_check_period_s", "health_check_timeout_s"):
            if getattr(config, field) is not None:
                deployment[field] = getattr(config, field)
        if config.ray_actor_options is not None:
            deployment["ray_actor_options"] = config.ray_actor_options.to_serve()
        if len(deployment) > 1:
            app["deployments"] = [deployment]
        return app

    def _runtime_env(self, api: ServeApi) -> dict[str, Any]:
        env: dict[str, Any] = {"env_vars": {**self.config.env_vars, UUID_ENV: str(self.uuid)}}
        if self.config.pip:
            env["pip"] = list(self.config.pip)
        if self.config.working_dir is not None:
            try:
                name, data = package_directory(Path(self.config.working_dir))
            except OSError as exc:
                raise ConfigError(
                    f"Service {self.config.service_name!r}: cannot package working_dir "
                    f"{self.config.working_dir!r}: {exc}"
                ) from None
            env["working_dir"] = api.ensure_package(name, data)
            self.status.package_uri = env["working_dir"]
        return env

    # -- helpers --------------------------------------------------------------------------------

    def _config_claim(self) -> AbstractContextManager[None]:
        """The registry-wide claim on this cluster's config document: Serve's PUT has no
        version check, so every read-modify-write of it, from any host sharing the registry
        (a PostgreSQL advisory lock), runs alone."""
        from plugin_core.registry.store import ServiceRegistry

        registry = self.registry if self.registry is not None else ServiceRegistry()
        return registry.claim(self.config.address, scope=CLAIM_SCOPE)

    def _is_ours(self, app_config: dict[str, Any]) -> bool:
        env_vars = (app_config.get("runtime_env") or {}).get("env_vars") or {}
        return bool(env_vars.get(UUID_ENV) == str(self.uuid))

    def _require_ours(self, app_config: dict[str, Any], action: str) -> None:
        if self._is_ours(app_config):
            return
        owner = ((app_config.get("runtime_env") or {}).get("env_vars") or {}).get(UUID_ENV)
        whose = f"outlive service {owner}" if owner else "no outlive service"
        raise RayClusterError(
            f"Service {self.config.service_name!r}: cannot {action} the Serve application "
            f"{self.app_name!r} on {self.config.address}: it belongs to {whose}. Remove it "
            "there, or give this service another name."
        )

    def _gone(self, api: ServeApi) -> bool | None:
        applications = api.status().get("applications") or {}
        return True if self.app_name not in applications else None

    def _place_endpoint(self, status: dict[str, Any]) -> None:
        if self.endpoint is not None:
            self.endpoint.place(self.config.address, status.get("http_options") or {})
