"""Session state: a JSON document per session, versioned, in the registry database.

llama_deploy kept each session as one mutable dict rewritten without a lock and
stored pickled workflow contexts in it. Here a write names the version it read
(``UPDATE ... WHERE version = ?``); a lost race raises
:class:`ConcurrentUpdateError`, and :meth:`SessionStore.modify` retries it, so
two writers never lose an update. Values must be JSON: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from plugin_core.errors import ConcurrentUpdateError, ConfigError
from plugin_core.workflow.models import SessionState
from plugin_core.workflow.schema import engine_for, sessions, translated

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SessionChange = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any] | None]
"""A dict of top-level keys to merge, or a function of the current state returning the new one."""

_MODIFY_ATTEMPTS = 50


class SessionStore:
    """Read and write session state with optimistic versioning.

    A session that was never written reads as ``{}`` at version 0.
    """

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self._engine = engine or engine_for(url)

    def get(self, session_id: str) -> SessionState:
        """The current state and version of ``session_id``."""
        with translated(f"session {session_id!r}"), self._engine.connect() as conn:
            return self._read(conn, session_id)

    def put(
        self,
        session_id: str,
        state: dict[str, Any],
        *,
        expected_version: int | None = None,
        merge: bool = True,
    ) -> SessionState:
        """Write ``state`` (merged into the stored keys, or replacing them).

        With ``expected_version``, the write happens only if nobody wrote since
        that version, else :class:`ConcurrentUpdateError`. Without it, a merge is
        retried on conflict (last writer's keys win, no key of another write is lost).
        """
        if expected_version is not None:
            return self._write(session_id, state, expected_version, merge)
        if not merge:
            return self.modify(session_id, lambda _old: state)
        return self.modify(session_id, state)

    def modify(self, session_id: str, change: SessionChange) -> SessionState:
        """Apply ``change`` to the freshest state, retrying when another writer got there first."""
        for _ in range(_MODIFY_ATTEMPTS):
            current = self.get(session_id)
            if callable(change):
                new_state = change(dict(current.state))
                state = current.state if new_state is None else new_state
            else:
                state = {**current.state, **change}
            try:
                with translated(f"session {session_id!r}"), self._engine.begin() as conn:
                    return self._store(conn, session_id, state, current.version)
            except ConcurrentUpdateError:
                continue
        raise ConcurrentUpdateError(
            f"Session {session_id!r} changed under {_MODIFY_ATTEMPTS} attempts in a row; "
            "too many writers contend for one session."
        )

    def delete(self, session_id: str) -> bool:
        """Remove a session; True when it existed."""
        from sqlalchemy import delete

        with translated(f"session {session_id!r}"), self._engine.begin() as conn:
            result = conn.execute(delete(sessions).where(sessions.c.session_id == session_id))
            return bool(result.rowcount)

    def _write(
        self, session_id: str, state: dict[str, Any], expected: int, merge: bool
    ) -> SessionState:
        # Read, then write guarded by the version: no read-to-write lock upgrade in one
        # transaction (SQLite answers those with "database is locked" under contention).
        current = self.get(session_id)
        if current.version != expected:
            raise _conflict(session_id, expected, current.version)
        merged = {**current.state, **state} if merge else dict(state)
        with translated(f"session {session_id!r}"), self._engine.begin() as conn:
            return self._store(conn, session_id, merged, expected)

    def _store(
        self, conn: Connection, session_id: str, state: dict[str, Any], expected: int
    ) -> SessionState:
        from sqlalchemy import insert, update
        from sqlalchemy.exc import IntegrityError

        text = _dumps(session_id, state)
        now = time.time()
        values = {"state": text, "version": expected + 1, "updated_at": now}
        if expected == 0:
            try:
                conn.execute(insert(sessions).values(session_id=session_id, **values))
            except IntegrityError:  # two first writes raced on the insert
                raise _conflict(session_id, expected, -1) from None
        else:
            result = conn.execute(
                update(sessions)
                .where(sessions.c.session_id == session_id, sessions.c.version == expected)
                .values(**values)
            )
            if result.rowcount != 1:
                raise _conflict(session_id, expected, -1)
        return SessionState(
            session_id=session_id, state=state, version=expected + 1, updated_at=now
        )

    @staticmethod
    def _read(conn: Connection, session_id: str) -> SessionState:
        from sqlalchemy import select

        row = conn.execute(select(sessions).where(sessions.c.session_id == session_id)).first()
        if row is None:
            return SessionState(session_id=session_id)
        return SessionState(
            session_id=session_id,
            state=json.loads(row.state),
            version=row.version,
            updated_at=row.updated_at,
        )


def _dumps(session_id: str, state: dict[str, Any]) -> str:
    try:
        return json.dumps(state, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Session {session_id!r} state must be JSON (dicts, lists, str, numbers, bools, "
            f"None): {exc}"
        ) from None


def _conflict(session_id: str, expected: int, found: int) -> ConcurrentUpdateError:
    seen = f"it is now at version {found}" if found >= 0 else "another writer got there first"
    return ConcurrentUpdateError(
        f"Session {session_id!r} was written since version {expected} ({seen}); "
        "read it again and reapply the change."
    )
