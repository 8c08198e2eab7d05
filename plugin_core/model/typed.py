"""Models that remember their own class, so JSON loads back into the right subclass.

Every persisted piece (service, config, status, endpoint, monitor) carries a
``type`` field holding ``"<module>.<QualName>"`` of its class. Loading resolves
that name through, in order: classes already defined in this process, the
``outlive.services`` entry point group, then an import of the dotted path. A
name that resolves to nothing raises :class:`UnknownServiceTypeError` instead
of failing later inside a daemon.
"""

from __future__ import annotations

import builtins
import importlib
import json
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from plugin_core.errors import ConfigError, UnknownServiceTypeError

T = TypeVar("T", bound="BaseTypedModel")

_CLASSES: dict[str, type[BaseTypedModel]] = {}
ENTRY_POINT_GROUP = "outlive.services"


def type_name_of(cls: type) -> str:
    """The name stored in ``type``: the import path a fresh process would use."""
    return f"{cls.__module__}.{cls.__qualname__}"


class BaseTypedModel(BaseModel):
    """A pydantic model with a ``type`` discriminator naming its concrete class."""

    # Infinity and NaN are refused in every float field: a NaN timeout would wait forever.
    model_config = ConfigDict(validate_assignment=True, extra="forbid", allow_inf_nan=False)

    type: str = ""
    _registered: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _CLASSES[type_name_of(cls)] = cls

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch_on_type(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, dict) and data.get("type"):
            target = resolve_type(str(data["type"]))
            if target is not cls:
                if not issubclass(target, cls):
                    raise ValueError(
                        f"type {data['type']!r} is not a {cls.__qualname__}; "
                        f"use a subclass of {type_name_of(cls)}"
                    )
                return target.model_validate(data)
        result = handler(data)
        if isinstance(result, BaseTypedModel):
            object.__setattr__(result, "type", type_name_of(type(result)))
        return result

    @classmethod
    def from_dict(cls: builtins.type[T], data: dict[str, Any]) -> T:
        """Load a model of the class named in ``data['type']``, which must be a ``cls``."""
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, cls.__name__)) from None

    @classmethod
    def from_json(cls: builtins.type[T], text: str) -> T:
        """Like :meth:`from_dict`, from a JSON string."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{cls.__name__} JSON is not valid: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} JSON must be an object, got {type(data).__name__}")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Serialise with every subclass field kept (nested models included)."""
        return self.model_dump(mode="json", serialize_as_any=True)

    def to_json(self) -> str:
        """JSON text that :meth:`from_json` turns back into an equal object."""
        return self.model_dump_json(serialize_as_any=True)


def resolve_type(type_name: str) -> type[BaseTypedModel]:
    """Find the class for a stored ``type`` name, importing it when needed."""
    known = _CLASSES.get(type_name)
    if known is not None:
        return known
    from_entry_point = _from_entry_points(type_name)
    if from_entry_point is not None:
        return from_entry_point
    return _import_class(type_name)


def _from_entry_points(type_name: str) -> type[BaseTypedModel] | None:
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == type_name or entry_point.value.replace(":", ".") == type_name:
            loaded = entry_point.load()
            if isinstance(loaded, type) and issubclass(loaded, BaseTypedModel):
                return loaded
    return None


def _import_class(type_name: str) -> type[BaseTypedModel]:
    module_name, _, qualname = type_name.rpartition(".")
    if not module_name or module_name == "__main__":
        raise UnknownServiceTypeError(type_name, "it was defined in a script run as __main__")
    # Nested classes: walk back until the module part imports.
    parts = type_name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name, attrs = ".".join(parts[:split]), parts[split:]
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in attrs:
                obj = getattr(obj, attr)
        except AttributeError:
            raise UnknownServiceTypeError(
                type_name, f"module {module_name!r} has no attribute {'.'.join(attrs)!r}"
            ) from None
        if isinstance(obj, type) and issubclass(obj, BaseTypedModel):
            return obj
        raise UnknownServiceTypeError(type_name, "it is not an outlive model class")
    raise UnknownServiceTypeError(type_name, f"no module of {qualname!r} could be imported")


def describe_validation_error(exc: Any, model_name: str) -> str:
    """Turn a pydantic ``ValidationError`` into one line per bad field, naming the field."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ())) or "(root)"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"  {location}: {message}")
    return f"Invalid {model_name}:\n" + "\n".join(lines)
