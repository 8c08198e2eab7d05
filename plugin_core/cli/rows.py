"""``outlive list`` from the registry rows, without building a model (pydantic is never imported).

Loading a service model costs more than the rest of a listing together (pydantic and the
model classes, then validating every record), while a listing only looks: at the supervisor's
record, at ``/proc``, with one probe. So a row of a kind this module knows is judged from its
stored documents by the very rules the models use (:mod:`plugin_core.observation`), and
:func:`fast_listing` gives what ``service_info`` would give for it.

Whenever a row is not plainly such a row, or the look would change what must be stored, the
listing is not this module's to make: :func:`fast_listing` raises :class:`Fallback` and the
command takes the
model path (:func:`~plugin_core.lifecycle.find_services`), which quarantines, saves and
judges everything else. It falls back for:

* a row with a defect the store noted, a document that is not JSON or lacks a field read
  here, a record format other than :data:`RECORD_FORMAT`, an unknown state;
* a service type other than those in :data:`KINDS` (a local daemon's class is the user's
  own code and may judge otherwise; a container, a Ray Serve app, a third party's backend);
* an endpoint without a monitor in :data:`MONITORS`, or without an address yet;
* a service owned by another host (or an earlier boot of this one);
* a look that differs from the stored status in what a refresh saves
  (:func:`~plugin_core.observation.persisted_view`), or a service process that just died
  (its supervisor is given a moment to record the exit, which the model path waits for).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

from plugin_core.model.state import ServiceState
from plugin_core.observation import (
    Supervised,
    accepted_codes,
    describe_host,
    endpoint_uri,
    healthcheck_uri,
    host_facts,
    host_relation,
    joined_path,
    judge_supervised,
    observe_once,
    persisted_view,
    probe_timeout,
    service_labels,
    supervisor_record,
)

if TYPE_CHECKING:
    from plugin_core.orphans import OrphanProcesses
    from plugin_core.registry.store import ServiceRecord, ServiceRegistry

RECORD_FORMAT = 2
"""The record format these rows are read in (``plugin_core.model.typed.RECORD_FORMAT``; a test
keeps the two equal)."""
KINDS = {"outlive.command": ("local/command", "outlive.command-config")}
"""Service types listed here: type name -> (``kind`` as ``service_info`` shows it, the config's
type name). Tests check both against the classes."""
MONITORS = {"outlive.http-monitor", "outlive.tcp-monitor"}
"""Health monitors probed here (the model path probes any other)."""


class Fallback(Exception):
    """This listing needs the models; the message says why (``outlive --debug list`` shows it)."""


class Listing(NamedTuple):
    """What ``outlive list`` prints: one ``service_info`` dict per row, and the orphans."""

    infos: list[dict[str, Any]]
    orphans: list[OrphanProcesses]


def fast_listing(registry: ServiceRegistry) -> Listing:
    """Every registered service as ``service_info`` gives it, observed now, and the orphans;
    :class:`Fallback` when a row needs the model path (see the module docstring)."""
    from plugin_core.orphans import find_orphans
    from plugin_core.processes import all_marked_processes

    marked = all_marked_processes()  # before the records: see find_orphans
    records = registry.list_records()
    rows = [Row.of(record) for record in records]  # every row qualifies before any is probed
    infos = [row.observed() for row in rows]
    return Listing(infos, find_orphans(registry, marked=marked, records=records))


class Row:
    """One registry row of a supervised command service, as its stored documents."""

    def __init__(self, record: ServiceRecord) -> None:
        self.record = record
        self.admin_state = ServiceState(record.admin_state)
        self.config = _document(record.config)
        self.status = _document(record.status)
        self.endpoint = _document(record.endpoint) if record.endpoint is not None else None
        self.kind, config_type = KINDS[record.type]
        if self.config["type"] != config_type or self.config["service_name"] != record.name:
            raise Fallback(f"{record.name}: the config is not a {config_type}")
        if ServiceState(self.status["state"]) != ServiceState(record.state):
            raise Fallback(f"{record.name}: the state column and the status disagree")
        ServiceState(self.status["last_state"])  # a state this outlive knows, or ValueError
        self.owner = host_facts(self.status["owner_host"])
        if self.status["owner_host"] is not None and self.owner is None:
            raise Fallback(f"{record.name}: its owner host is not readable")
        if self.owner is not None and host_relation(self.owner) != "here":
            raise Fallback(f"{record.name}: launched on another host or boot")
        monitor = self.endpoint["monitor"] if self.endpoint is not None else None
        if self.endpoint is not None and (monitor is None or monitor["type"] not in MONITORS):
            raise Fallback(f"{record.name}: an endpoint without a monitor probed here")
        self.monitor: dict[str, Any] | None = monitor

    @classmethod
    def of(cls, record: ServiceRecord) -> Row:
        """The row, or :class:`Fallback` when it is not plainly one this module reads."""
        if record.defect:
            raise Fallback(f"{record.name}: {record.defect}")
        if record.record_format != RECORD_FORMAT or record.type not in KINDS:
            raise Fallback(f"{record.name}: type {record.type!r}, format {record.record_format}")
        try:
            return cls(record)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise Fallback(f"{record.name}: {type(exc).__name__} {exc}") from None

    def observed(self) -> dict[str, Any]:
        """Look once (as a refresh does) and give ``service_info``'s dict; :class:`Fallback`
        when the look must be saved, which is the model path's job."""
        try:
            return self._observed()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Fallback(f"{self.record.name}: {type(exc).__name__} {exc}") from None

    def _observed(self) -> dict[str, Any]:
        status = SimpleNamespace(**self.status)
        endpoint_status = (
            SimpleNamespace(**self.endpoint["status"]) if self.endpoint is not None else None
        )
        facts = Supervised(
            self.admin_state,
            float(self.config["startsecs"]),
            str(self.config["restart"]["mode"]),
            monitored=self.monitor is not None,
        )

        def check() -> tuple[ServiceState, str]:
            return judge_supervised(status, facts, self._just_died)

        observe_once(status, endpoint_status, check, self._probe, self._thresholds)
        if persisted_view(vars(status)) != persisted_view(self.status):
            raise Fallback(f"{self.record.name}: the look changed its status; it must be saved")
        return self._info(status)

    def _just_died(self, record: dict[str, Any]) -> dict[str, Any]:
        raise Fallback(f"{self.record.name}: its process just ended")

    def _uri(self) -> str | None:
        if self.endpoint is None:
            return None
        status = self.endpoint["status"]
        return endpoint_uri(str(status["protocol"]), status["hostname"], status["port"])

    def _thresholds(self) -> tuple[int, int]:
        assert self.monitor is not None
        policy = self.monitor["config"]["probe"]
        return int(policy["success_threshold"]), int(policy["failure_threshold"])

    def _probe(self) -> _Probe:
        from plugin_core.probes import check_http, check_tcp

        assert self.monitor is not None and self.endpoint is not None
        config = self.monitor["config"]
        policy_timeout = float(config["probe"]["timeout"])
        if self.monitor["type"] == "outlive.tcp-monitor":
            host, port = self.endpoint["status"]["hostname"], self.endpoint["status"]["port"]
            if not host or not port:
                raise Fallback(f"{self.record.name}: no address yet")
            timeout = probe_timeout(float(config["timeout"]), policy_timeout, None)
            return _Probe(*check_tcp(host, port, timeout=timeout))
        url = self._healthcheck_url()
        if url is None:
            raise Fallback(f"{self.record.name}: no address yet")
        return _Probe(
            *check_http(
                url,
                method="HEAD" if config["use_head_request"] else "GET",
                accepted=accepted_codes(config["http_status_codes"], config["http_status_code"]),
                timeout=probe_timeout(float(config["http_timeout"]), policy_timeout, None),
            )
        )

    def _healthcheck_url(self) -> str | None:
        uri = self._uri()
        if uri is None or self.monitor is None or self.monitor["type"] != "outlive.http-monitor":
            return None
        return healthcheck_uri(uri, self.monitor["config"]["healthcheck_uri_path"])

    def _info(self, status: SimpleNamespace) -> dict[str, Any]:
        """``plugin_core.snapshots.service_info`` of this row, key for key."""
        from plugin_core.processes import ProcessIdentity

        uri = self._uri()
        info: dict[str, Any] = {
            "uuid": self.record.uuid,
            "name": self.config["service_name"],
            "type": self.record.type,
            "kind": self.kind,
            "admin_state": self.admin_state.value,
            "state": ServiceState(status.state).value,
            "url": uri,
            "prediction_url": joined_path(uri, self.config["prediction_path"]) if uri else None,
            "healthcheck_url": self._healthcheck_url(),
            "last_error": status.last_error,
            "last_probe": status.last_probe,
            "exit_code": status.exit_code,
            "labels": service_labels(self.config),
        }
        if self.owner is not None:
            info["host"] = describe_host(self.owner)
        record = supervisor_record(status.runtime_path, status.supervisor_pid)  # as status.pid
        pid, token = record.get("child_pid"), record.get("child_token")
        alive = (
            isinstance(pid, int)
            and isinstance(token, str)
            and ProcessIdentity(pid, token).is_alive()
        )
        facts = {
            "pid": pid if alive else None,
            "supervisor_pid": status.supervisor_pid,
            "restarts": status.restarts,
            "runtime_path": str(Path(status.runtime_path)) if status.runtime_path else None,
        }
        info.update({key: value for key, value in facts.items() if value is not None})
        if self.record.created_at is not None:
            info["created_at"] = self.record.created_at.isoformat()
        return info


class _Probe(NamedTuple):
    ok: bool
    detail: str


def _document(text: str) -> dict[str, Any]:
    document = json.loads(text)
    if not isinstance(document, dict):
        raise TypeError("a stored document is not a JSON object")
    return document
