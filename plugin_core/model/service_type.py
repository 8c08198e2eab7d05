"""The kind of a service, used for display and as a registry filter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ServiceType(BaseModel):
    """A frozen descriptor of a service kind: ``type`` is the category, ``flavor`` the implementation."""

    model_config = ConfigDict(frozen=True)

    type: str
    flavor: str
    name: str = ""
    description: str = ""
    logo_url: str = ""
