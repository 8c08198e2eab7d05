"""``DuckSerialized[X]`` must behave exactly as pydantic's ``SerializeAsAny[X]``, which it replaces
in our models (it spares the services' import ``pydantic.functional_serializers``)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SerializeAsAny

from plugin_core import CommandService
from plugin_core.model.duck_serialized import DuckSerialized


class Declared(BaseModel):
    name: str = "declared"


class Held(Declared):
    extra: int = 7


class Ours(BaseModel):
    one: DuckSerialized[Declared]
    maybe: DuckSerialized[Declared] | None = None
    many: list[DuckSerialized[Declared]] = []


class Pydantics(BaseModel):
    one: SerializeAsAny[Declared]
    maybe: SerializeAsAny[Declared] | None = None
    many: list[SerializeAsAny[Declared]] = []


def _without_names(schema: Any) -> Any:
    """The core schema with what names the model classes themselves (``Ours``, ``Pydantics``:
    their names and their bound JSON-schema hooks) taken out."""
    if isinstance(schema, dict):
        return {
            key: _without_names(value)
            for key, value in schema.items()
            if key not in ("cls", "ref", "model_name", "title", "schema_ref", "pydantic_js_functions")
        }
    if isinstance(schema, list):
        return [_without_names(item) for item in schema]
    return schema


def test_the_core_schema_is_pydantics_own() -> None:
    assert _without_names(Ours.__pydantic_core_schema__) == _without_names(
        Pydantics.__pydantic_core_schema__
    )
    for mode in ("validation", "serialization"):
        ours, theirs = Ours.model_json_schema(mode=mode), Pydantics.model_json_schema(mode=mode)
        assert ours.pop("title") == "Ours" and theirs.pop("title") == "Pydantics"
        assert ours == theirs


def test_a_subclass_is_dumped_with_its_own_fields_and_validated_as_declared() -> None:
    held = Held(name="h")
    for model in (Ours, Pydantics):
        dumped = model(one=held, maybe=held, many=[held]).model_dump()
        assert dumped == {"one": {"name": "h", "extra": 7}, "maybe": {"name": "h", "extra": 7},
                          "many": [{"name": "h", "extra": 7}]}
        assert json.loads(model(one=held).model_dump_json())["one"] == {"name": "h", "extra": 7}
        assert type(model.model_validate({"one": {"name": "x"}}).one) is Declared


def test_the_two_mix_in_one_model() -> None:
    class Mixed(Ours):
        other: SerializeAsAny[Declared] = Declared()

    assert Mixed(one=Held(), other=Held()).model_dump()["other"] == {"name": "declared", "extra": 7}


def test_a_service_round_trips_its_subclass_fields() -> None:
    service = CommandService.http("duck", ["python", "-m", "http.server", "{port}"])
    dumped = service.model_dump()
    assert dumped["config"]["command"] == ["python", "-m", "http.server", "{port}"]  # a subclass field
    assert "restart" in dumped["config"]
    assert CommandService.from_json(service.to_json()).config == service.config

