"""Models that remember their own class, so stored JSON loads back into the right subclass.

Every persisted piece (service, config, status, endpoint, monitor) carries a ``type`` field
naming its class by a stable name (:mod:`plugin_core.model.type_names`: ``outlive.command``,
a package's declared name, else an import path or a script path). Loading resolves the name
once per model and validates the data as that class in the same pass; a name that resolves to
nothing raises :class:`UnknownServiceTypeError` instead of failing later inside a daemon.

Record format
-------------
What a stored document means is versioned by :data:`RECORD_FORMAT`:

- 1: outlive 0.1.0. Types are import paths (or script paths); documents carry no marker.
- 2: types are registered names; import paths only for classes that declare none.

A standalone document (:meth:`BaseTypedModel.to_json`: a daemon's ``service.json``, a
container's ``OUTLIVE_SERVICE_JSON``) starts with ``"_format": 2``; a registry row keeps the
format in its ``record_format`` column instead. ``_format`` can never be a field (pydantic
fields do not start with ``_``). A document without it is format 1, which every later outlive
still reads; a format newer than :data:`RECORD_FORMAT` is refused with a message naming both
versions and the fix (upgrade outlive), never a traceback.
"""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

import builtins
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from plugin_core.errors import ConfigError
from plugin_core.model.deferred import DeferredSignature, build_nested_first
from plugin_core.model.scripts import (
    is_script_type as is_script_type,
    load_script as load_script,
    reloadable_from_script as reloadable_from_script,
    reloading_script as reloading_script,
    script_path as script_path,
)
from plugin_core.model.type_names import (
    CLASS_BY_NAME,
    ENTRY_POINT_GROUP as ENTRY_POINT_GROUP,
    NAME_BY_CLASS,
    register,
    resolve_type as _resolve_class,
    type_name_of as type_name_of,
)

T = TypeVar("T", bound="BaseTypedModel")

RECORD_FORMAT = 2
OLDEST_RECORD_FORMAT = 1
FORMAT_KEY = "_format"
_MARKER = f'{{"{FORMAT_KEY}":{RECORD_FORMAT},'


class BaseTypedModel(BaseModel):
    """A pydantic model with a ``type`` discriminator naming its concrete class.

    A subclass may declare its stored name: ``class Web(BaseService, type_name="acme.web")``
    (published under that name in the ``outlive.services`` entry point group); without one it
    is stored by its import path. See :mod:`plugin_core.model.type_names`.
    """

    # Infinity and NaN are refused in every float field: a NaN timeout would wait forever.
    model_config = ConfigDict(
        validate_assignment=True, extra="forbid", allow_inf_nan=False, defer_build=True
    )

    type: str = ""
    __signature__ = DeferredSignature()  # the build is deferred: see plugin_core.model.deferred

    def __init_subclass__(cls, type_name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        register(cls, type_name)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.__pydantic_complete__:  # a built parent's signature must not stand for ours
            type.__setattr__(cls, "__signature__", DeferredSignature())

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        """pydantic's rebuild, after the models this one holds (each schema generated once:
        see :func:`plugin_core.model.deferred.build_nested_first`)."""
        if not cls.__pydantic_complete__:
            build_nested_first(cls)
        return super().model_rebuild(
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1 if _parent_namespace_depth else 0,
            _types_namespace=_types_namespace,
        )

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch_on_type(cls, data: Any, handler: Any) -> Any:
        """Validate ``data`` as the class its ``type`` names, in one pass.

        Called for this class with a dict naming a subclass, it hands the dict to the
        subclass's validator, whose own call of this method finds itself named and validates
        at once: the name is looked up once per model, never resolved twice.
        """
        if type(data) is dict:
            if FORMAT_KEY in data:
                data = _without_format(data)
            stored = data.get("type")
            if stored:
                target = _class_named(stored)
                if target is not cls:
                    if not issubclass(target, cls):
                        raise ValueError(
                            f"type {stored!r} is not a {cls.__qualname__}; "
                            f"use a subclass of {type_name_of(cls)}"
                        )
                    return target.__pydantic_validator__.validate_python(data)
        result = handler(data)
        if isinstance(result, BaseTypedModel):
            name = NAME_BY_CLASS.get(type(result)) or type_name_of(type(result))
            if result.__dict__.get("type") != name:
                object.__setattr__(result, "type", name)
        return result

    @classmethod
    def from_dict(cls: builtins.type[T], data: dict[str, Any]) -> T:
        """Load a model of the class named in ``data['type']``, which must be a ``cls``."""
        from pydantic import ValidationError

        if isinstance(data, dict) and FORMAT_KEY in data:
            check_record_format(data[FORMAT_KEY], f"This {cls.__name__} document")
        target = _named_class(cls, data)
        try:
            return target.model_validate(data)
        except ValidationError as exc:  # named as the class the document asked for
            raise ConfigError(describe_validation_error(exc, target.__name__)) from None

    @classmethod
    def from_json(cls: builtins.type[T], json_str: str) -> T:
        """Like :meth:`from_dict`, from a JSON string (a document :meth:`to_json` wrote, or
        one written by an older outlive)."""
        try:
            data = parse_document(json_str)
        except ValueError as exc:  # json.JSONDecodeError, from the fallback parse
            raise ConfigError(f"{cls.__name__} JSON is not valid: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} JSON must be an object, got {type(data).__name__}")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Serialise with every subclass field kept (nested models included)."""
        return self.model_dump(mode="json", serialize_as_any=True)

    def to_json(self) -> str:
        """A standalone record document: JSON that :meth:`from_json` turns back into an equal
        object, marked with the record format it was written in (``"_format": 2``)."""
        return _MARKER + document_json(self)[1:]


def parse_document(text: str) -> Any:
    """A stored JSON document as Python data, as ``json.loads`` gives it, ~5x faster (pydantic's
    parser, in Rust): a registry listing parses three documents per record. A text that parser
    refuses (invalid JSON, nesting deeper than 200, a lone surrogate escape) goes through
    ``json.loads``, so what loads and every error message stay as they were."""
    from pydantic_core import from_json

    try:
        return from_json(text)
    except ValueError:
        import json  # here: loading a service needs no json module unless the text is refused

        return json.loads(text)


def document_json(model: BaseTypedModel) -> str:
    """``model`` as JSON without the format marker: a part of a record that keeps its format
    elsewhere (a registry row's ``record_format`` column)."""
    return model.model_dump_json(serialize_as_any=True)


def resolve_type(type_name: str) -> builtins.type[BaseTypedModel]:
    """Find the class for a stored ``type`` name, importing it when needed."""
    found = _resolve_class(type_name)
    assert issubclass(found, BaseTypedModel)  # type_names hands out model classes only
    return found


def check_record_format(found: Any, what: str) -> int:
    """``found`` as a record format this outlive reads, else :class:`ConfigError` naming the
    format, the formats read here and the fix."""
    if type(found) is not int or found < OLDEST_RECORD_FORMAT:
        raise ConfigError(
            f"{what} has {FORMAT_KEY}={found!r}: a record format is a whole number from "
            f"{OLDEST_RECORD_FORMAT}; the document was altered by hand or is not outlive's."
        )
    if found > RECORD_FORMAT:
        raise ConfigError(newer_format_message(what, found))
    return found


def newer_format_message(what: str, found: int) -> str:
    """The one wording for a record from a newer outlive."""
    from plugin_core import __version__

    return (
        f"{what} was written in record format {found} by a newer outlive; this outlive "
        f"({__version__}) reads formats {OLDEST_RECORD_FORMAT} to {RECORD_FORMAT}. Upgrade "
        "outlive here (pip install -U outlive) to read it; the record itself is fine."
    )


def _without_format(data: dict[str, Any]) -> dict[str, Any]:
    try:
        check_record_format(data[FORMAT_KEY], "The document")
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return {key: value for key, value in data.items() if key != FORMAT_KEY}


def _named_class(cls: builtins.type[T], data: Any) -> builtins.type[T]:
    """The subclass of ``cls`` that ``data['type']`` names, else ``cls`` (whose validator then
    says what is wrong). Validating as the named class at once spares the first load the
    schema of ``cls`` itself: ``BaseService`` holds every base model a backend replaces."""
    stored = data.get("type") if type(data) is dict else None
    if type(stored) is not str or not stored:
        return cls
    try:
        target = _class_named(stored)
    except ConfigError:  # cls's validator resolves it again and says so, field by field
        return cls
    return target if issubclass(target, cls) else cls


def _class_named(stored: Any) -> builtins.type[BaseTypedModel]:
    """The class a stored ``type`` names: a registered name without an import, else resolved."""
    found = CLASS_BY_NAME.get(stored) if type(stored) is str else None
    return found if found is not None else resolve_type(str(stored))


def describe_validation_error(exc: Any, model_name: str) -> str:
    """Turn a pydantic ``ValidationError`` into one line per bad field, naming the field."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ())) or "(root)"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"  {location}: {message}")
    return f"Invalid {model_name}:\n" + "\n".join(lines)
