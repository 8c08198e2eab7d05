"""The kind of a service, used for display and as a registry filter."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from pydantic import BaseModel, ConfigDict

from plugin_core.model.deferred import DeferredSignature


class ServiceType(BaseModel):
    """A frozen descriptor of a service kind: ``type`` is the category, ``flavor`` the implementation.

    Every service class builds one at class-definition time (``SERVICE_TYPE = ServiceType(...)``),
    so constructing it must not build a pydantic schema: defining a service class would then pay
    for pydantic's first schema build (its plugin discovery included) on every import. The fields
    are plain strings, checked here; everything else (dump, equality, hashing) is pydantic's.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)
    __signature__ = DeferredSignature()

    type: str
    flavor: str
    name: str = ""
    description: str = ""
    logo_url: str = ""

    def __init__(
        self, *, type: str, flavor: str, name: str = "", description: str = "", logo_url: str = ""
    ) -> None:
        given = {
            "type": type, "flavor": flavor, "name": name, "description": description,
            "logo_url": logo_url,
        }  # fmt: skip
        wrong = [field for field, value in given.items() if not isinstance(value, str)]
        if wrong:
            raise TypeError(f"ServiceType fields must be strings: {', '.join(wrong)}")
        built = self.__class__.model_construct(
            type=type, flavor=flavor, name=name, description=description, logo_url=logo_url
        )
        for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"):
            object.__setattr__(self, slot, getattr(built, slot))
