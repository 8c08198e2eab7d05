"""What a user asks for when defining a service."""

# Annotations here are objects, not strings (no ``from __future__ import annotations``): pydantic
# would compile each field's string when the class is defined. See plugin_core.model.deferred.

from uuid import uuid4

from pydantic import Field, PrivateAttr, field_validator, model_validator

from plugin_core.model.typed import BaseTypedModel


def usable_service_name(name: str) -> bool:
    """1-128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit: a name
    that is safe as a directory, a label value and a CLI argument. Checked with string methods,
    not a regular expression: ``$`` also matched before a trailing newline (``"web\\n"`` passed),
    and compiling one cost every import of the services."""
    rest = name.replace("_", "").replace(".", "").replace("-", "")
    return 0 < len(name) <= 128 and name.isascii() and name[0].isalnum() and rest.isalnum()


class ServiceConfig(BaseTypedModel):
    """Identity and provenance of a service, with ZenML's fields.

    ``service_name`` is the unique name in the registry; it defaults to ``name``
    (or ``model_name``). Starting a config whose ``service_name`` is already
    running reuses that service instead of starting a second copy.

    A config with none of the three gets a generated name, as ZenML allows: the
    service that holds it renames it after its class and uuid (``sleeping-daemon-1a2b3c4d``),
    which is then stored and stable. Such a service is not reused by name: every
    ``start()`` of a new object is a new service, as in ZenML.
    """

    name: str = ""
    description: str = ""
    pipeline_name: str = ""
    pipeline_step_name: str = ""
    model_name: str = ""
    model_version: str = ""
    service_name: str = ""
    labels: dict[str, str] = Field(default_factory=dict)

    _name_generated: bool = PrivateAttr(default=False)

    @property
    def name_generated(self) -> bool:
        """True when no name was given and ``service_name`` was made up (see the class doc)."""
        return self._name_generated

    def renamed(self, service_name: str) -> "ServiceConfig":
        """A copy with this ``service_name``, no longer counted as generated (a nameless config
        taking over an existing service's name, or a service naming its nameless config)."""
        copy = self.model_copy(update={"service_name": service_name})
        copy._name_generated = False
        return copy

    @model_validator(mode="after")
    def _default_service_name(self) -> "ServiceConfig":
        if not self.service_name:
            generated = not (self.name or self.model_name)
            name = self.name or self.model_name or f"service-{uuid4().hex[:8]}"
            object.__setattr__(self, "service_name", name)
            self._name_generated = generated
        if not usable_service_name(self.service_name):
            raise ValueError(
                f"service name {self.service_name!r} is not usable: use 1-128 letters, digits, "
                "'.', '_' or '-', starting with a letter or digit"
            )
        return self

    @field_validator("labels")
    @classmethod
    def _labels_are_plain(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not key or len(key) > 128 or "\0" in key:
                raise ValueError(f"label key {key!r} must be 1-128 characters, without NUL")
            if len(value) > 512 or "\0" in value:
                raise ValueError(f"label {key!r}: the value must be at most 512 characters, without NUL")
        return labels

    def get_service_labels(self) -> dict[str, str]:
        """Labels to find this service by: non-empty identity fields plus user ``labels``."""
        from plugin_core.observation import service_labels

        return service_labels(self.__dict__)


def generated_service_name(cls: type, uuid_hex: str) -> str:
    """The name of a nameless service: its class in kebab case plus the start of its uuid."""
    import re  # here: only a nameless service needs it

    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", cls.__name__).lower().strip("-_.")
    return f"{words[:100] or 'service'}-{uuid_hex[:8]}"
