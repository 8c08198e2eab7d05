"""The one translation of database errors: SQLAlchemy's and the driver's, into RegistryError.

Every registry query (the service store, the schema upgrade, the workflow service's tables)
runs inside :func:`translated`, so a caller catches outlive's errors only, each with a message
that says what was being done, what the database answered and what to check.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from plugin_core.errors import DuplicateServiceError, RegistryError


@contextmanager
def translated(subject: str) -> Iterator[None]:
    """Run the block, turning a SQLAlchemy error into the :class:`RegistryError` that
    :func:`registry_error` gives for it; ``subject`` is what the block handles (quoted as
    written: ``"service 'web'"``, ``"the registry schema"``)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        raise registry_error(exc, subject) from None


def registry_error(exc: Any, subject: str) -> RegistryError:
    """The RegistryError for the SQLAlchemy error ``exc`` raised while handling ``subject``."""
    from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError

    answer = _first_line(getattr(exc, "orig", None) or exc)
    lowered = answer.lower()
    if isinstance(exc, IntegrityError):
        return DuplicateServiceError(
            f"{subject} is already registered by another writer ({answer}); load it again."
        )
    if "database is locked" in lowered or "database is busy" in lowered:
        return RegistryError(
            f"The SQLite registry stayed locked by another writer for 30 s while handling "
            f"{subject}: {answer}. Retry; if it persists, look for a process stuck inside a "
            "registry write, or move the registry to PostgreSQL for many concurrent writers."
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return RegistryError(
            f"The registry cannot be written while handling {subject}: {answer}. Fix: make the "
            "database file and its directory writable by this user, or point "
            "OUTLIVE_REGISTRY_URL / --registry at a place that is."
        )
    if isinstance(exc, ProgrammingError) or "no such table" in lowered:
        return RegistryError(
            f"The registry database refused a query while handling {subject}: {answer}. Its "
            "tables are missing or were changed outside outlive; open it with this outlive "
            "(it upgrades the schema) or restore the database."
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        return RegistryError(
            f"The registry could not be reached while handling {subject}: {answer}. Check that "
            "the database server is running and that OUTLIVE_REGISTRY_URL (or --registry) "
            "points at it."
        )
    return RegistryError(f"Registry error while handling {subject}: {answer}")


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
