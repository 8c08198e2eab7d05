"""What a user asks for when defining a service."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from plugin_core.model.typed import BaseTypedModel

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ServiceConfig(BaseTypedModel):
    """Identity and provenance of a service, with ZenML's fields.

    ``service_name`` is the unique name in the registry; it defaults to ``name``
    (or ``model_name``). Starting a config whose ``service_name`` is already
    running reuses that service instead of starting a second copy.
    """

    name: str = ""
    description: str = ""
    pipeline_name: str = ""
    pipeline_step_name: str = ""
    model_name: str = ""
    model_version: str = ""
    service_name: str = ""
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_service_name(self) -> ServiceConfig:
        if not self.service_name:
            if not (self.name or self.model_name):
                raise ValueError(
                    "a service needs a name: set `name` (or `model_name`), e.g. name='my-model'"
                )
            object.__setattr__(self, "service_name", self.name or self.model_name)
        if not _NAME.match(self.service_name):
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
        labels = {
            field: str(getattr(self, field))
            for field in (
                "name",
                "pipeline_name",
                "pipeline_step_name",
                "model_name",
                "model_version",
            )
            if getattr(self, field)
        }
        labels.update(self.labels)
        return labels
