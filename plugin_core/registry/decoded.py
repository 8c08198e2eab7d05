"""Services already decoded from their exact stored text: a later read of the same row is a copy.

Validating a record costs ~100 us (seven typed models, their validators, pydantic's private
attributes); a process that reads the same registry again and again (a status query of a
fleet, a sensor's or a trigger's polling, a watch) would validate the same text each time.
:class:`DecodedRecords` keeps, per service uuid, the stored columns a service was decoded
from and a pristine copy of the service; a record whose columns are the same text again is
handed out as a fresh copy of it (~5x cheaper), whatever else changed.

What may be kept is narrow: only records in the current record format whose every model is
one of outlive's own classes (``outlive.*`` type names: never reloaded, their validators
deterministic), and only what validated: a row that fails validation is never kept, so it is
validated (and quarantined) at each read as before, and a row whose text changed in any way
(a write, an edit by hand) is validated again. A copy is kept from the second time the same
text is validated on, so a one-off pass over many records costs no copies. Copies share nothing mutable with the kept
service or with each other. tests/core/test_decoded_records.py checks that a copy equals what
validation gives, for every record shape the code writes.
"""

from __future__ import annotations

import copy
import enum
import functools
import threading
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from plugin_core.registry.store import ServiceRecord
    from plugin_core.service import BaseService

M = TypeVar("M", bound="BaseModel")
CAPACITY = 2048  # services kept per process (~10 KB each); the least recently read go first


def _columns(record: ServiceRecord) -> tuple[Any, ...]:
    """What a service is decoded from (its version and timestamps are set on every copy), and
    the record format that text is in (only the current one is ever kept)."""
    return (
        record.type, record.admin_state, record.config, record.status, record.endpoint,
        record.record_format,
    )  # fmt: skip


class DecodedRecords:
    """Decoded services by uuid, with the exact stored text each was decoded from."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        # uuid -> (the stored columns, the service decoded from them; None: seen once so far)
        self._kept: OrderedDict[str, tuple[tuple[Any, ...], BaseService | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, record: ServiceRecord) -> BaseService | None:
        """A fresh copy of the service decoded from exactly this record's text, or None."""
        with self._lock:
            kept = self._kept.get(record.uuid)
            if kept is None or kept[1] is None or kept[0] != _columns(record):
                return None
            self._kept.move_to_end(record.uuid)
        service = copy_model(kept[1])
        _stamp(service, record)
        return service

    def keep(self, record: ServiceRecord, service: BaseService) -> None:
        """Remember ``service``, just validated from ``record``, if it is one that may be kept.

        The first time a record's text is seen only the text is noted; a copy of the service
        is kept when the same text is validated a second time, so a single pass over many
        records (a find among thousands) pays nothing for copies it would never use."""
        from plugin_core.model.typed import RECORD_FORMAT

        if record.record_format != RECORD_FORMAT:
            return
        columns = _columns(record)
        with self._lock:
            kept = self._kept.get(record.uuid)
        pristine = None
        if kept is not None and kept[0] == columns:  # validated a second time: keep a copy
            if not _outlive_models_only(service):
                return
            pristine = copy_model(service)
        with self._lock:
            self._kept[record.uuid] = (columns, pristine)
            self._kept.move_to_end(record.uuid)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (a benchmark's cold read)."""
        with self._lock:
            self._kept.clear()

    def forget(self, uuid: str) -> None:
        """Drop what is kept for ``uuid`` (its record was deleted)."""
        with self._lock:
            self._kept.pop(uuid, None)


def _stamp(service: BaseService, record: ServiceRecord) -> None:
    service.registry_version = record.version
    service.created_at, service.updated_at = record.created_at, record.updated_at


def _outlive_models_only(model: BaseModel) -> bool:
    """True if ``model`` and every model inside it are outlive's own typed classes (or plain
    pydantic models inside them, such as the probe policy)."""
    from plugin_core.model.type_names import NAME_BY_CLASS
    from plugin_core.model.typed import BaseTypedModel

    if isinstance(model, BaseTypedModel) and not NAME_BY_CLASS.get(type(model), "").startswith(
        "outlive."
    ):
        return False
    return all(_outlive_value(value) for value in model.__dict__.values())


def _outlive_value(value: Any) -> bool:
    if type(value) in _SHARED:
        return True
    if isinstance(value, _model_base()):
        return _outlive_models_only(value)
    if type(value) in (list, set, tuple):
        return all(_outlive_value(item) for item in value)
    if type(value) is dict:
        return all(_outlive_value(item) for item in value.values())
    return True


def copy_model(model: M) -> M:
    """A copy of a pydantic model that shares nothing mutable with it: its own field values,
    fields-set, extra and private attributes; nested models, lists, dicts and sets copied
    too; strings, numbers, enums, UUIDs and frozen models of such values shared (they cannot
    change)."""
    cls = type(model)
    twin = object.__new__(cls)
    values = model.__dict__.copy()
    for name, value in values.items():
        if type(value) not in _SHARED:
            values[name] = _copy_value(value)
    _set(twin, "__dict__", values)
    _set(twin, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))
    extra, private = model.__pydantic_extra__, model.__pydantic_private__
    _set(twin, "__pydantic_extra__", None if extra is None else _copy_value(extra))
    _set(twin, "__pydantic_private__", None if private is None else dict(private))
    return twin


def field_values(model: BaseModel) -> dict[str, Any]:
    """``model``'s field values by name, as copies that share nothing mutable with it: a
    snapshot to compare with after the model changed, without serialising it."""
    return {
        name: value if type(value) in _SHARED else _copy_value(value)
        for name, value in model.__dict__.items()
    }


@functools.cache
def _model_base() -> type[BaseModel]:
    """pydantic's ``BaseModel``, imported on first use: the store imports this module, and a
    listing that reads rows without models (``outlive list``) imports no pydantic."""
    from pydantic import BaseModel

    return BaseModel


_set = object.__setattr__
# Types whose values are shared by copies: immutable. Enum classes join on first sight.
_SHARED: set[type] = {str, int, float, bool, type(None), bytes, uuid.UUID}


# Model classes seen so far, and whether each is frozen; a frozen one holding only values of
# shared types (a probe policy, a restart policy, a host identity) is itself shared.
_MODEL_CLASSES: dict[type, bool] = {}


def _immutable(model: BaseModel) -> bool:
    """True for a frozen model (so it says) holding only immutable values and no private
    attributes: copies may share it, as they share a string."""
    return (
        model.__pydantic_private__ is None
        and model.__pydantic_extra__ is None
        and _SHARED.issuperset(map(type, model.__dict__.values()))
    )


def _copy_value(value: Any) -> Any:
    kind = type(value)
    frozen = _MODEL_CLASSES.get(kind)
    if frozen is not None:
        return value if frozen and _immutable(value) else copy_model(value)
    if kind is dict:
        return {k: v if type(v) in _SHARED else _copy_value(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SHARED else _copy_value(v) for v in value]
    if kind is set:
        return {v if type(v) in _SHARED else _copy_value(v) for v in value}
    if isinstance(value, _model_base()):
        _MODEL_CLASSES[kind] = value.model_config.get("frozen") is True
        return _copy_value(value)
    if isinstance(value, enum.Enum):
        _SHARED.add(kind)
        return value
    return copy.deepcopy(value)
