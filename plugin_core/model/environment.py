"""The one check of the environment variables a user gives a service (``env``,
``environment``, ``env_vars`` and their secret twins).

The operating system cannot carry every string: a name must be non-empty and hold neither
``=`` nor NUL, and a value cannot hold NUL. Checked when the definition is made, so a bad
variable is a field error naming the variable, never a failed spawn after the service was
registered. A secret's value is never quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import SecretStr

Values = TypeVar("Values", bound=Mapping[str, object])


def check_environment(values: Values) -> Values:
    """``values`` if every name and value can be an environment variable, else ValueError
    naming the first that cannot and the fix."""
    for name, value in values.items():
        if not name or "=" in name or "\0" in name:
            raise ValueError(
                f"variable name {name!r} is not usable: a name is non-empty and holds neither "
                "'=' nor NUL (e.g. MODEL_DIR)"
            )
        text: object = value
        shown = f"its value {value!r}"
        if isinstance(value, SecretStr):  # checked as the text it hides, never quoted
            text, shown = value.get_secret_value(), "its secret value"
        if isinstance(text, str) and "\0" in text:
            raise ValueError(
                f"variable {name!r}: {shown} holds a NUL character, which no environment "
                "variable can carry"
            )
    return values
