"""The control plane: replicas of workflow services in the registry database.

A replica registers on start, refreshes ``heartbeat_at`` every
``heartbeat_interval`` and deletes its row on a clean shutdown. A replica that
died without deregistering (SIGKILL, power loss) keeps its row, but its
heartbeat ages past ``heartbeat_ttl``, so everyone sees it as dead and its
unfinished tasks can be taken over. Times are wall-clock because they are
compared across processes and machines.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import TYPE_CHECKING

from plugin_core.workflow.models import ReplicaRecord
from plugin_core.workflow.schema import engine_for, replicas, translated

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def new_replica_id(service_name: str) -> str:
    """A unique id for one process of ``service_name`` (also its queue consumer name)."""
    return f"{service_name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class ReplicaDirectory:
    """Register, heartbeat, deregister and list workflow service replicas."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self._engine = engine or engine_for(url)

    def register(self, replica_id: str, service_name: str, url: str, ttl: float) -> ReplicaRecord:
        """Add (or refresh) this process's row; returns what others will see."""
        from sqlalchemy import delete, insert

        now = time.time()
        record = ReplicaRecord(
            replica_id=replica_id,
            service_name=service_name,
            url=url,
            pid=os.getpid(),
            hostname=socket.gethostname(),
            started_at=now,
            heartbeat_at=now,
            heartbeat_ttl=ttl,
        )
        with translated(f"replica {replica_id!r}"), self._engine.begin() as conn:
            conn.execute(delete(replicas).where(replicas.c.replica_id == replica_id))
            conn.execute(insert(replicas).values(**record.model_dump()))
        return record

    def heartbeat(self, replica_id: str) -> bool:
        """Refresh the heartbeat; False if the row is gone (someone pruned us: re-register)."""
        from sqlalchemy import update

        with translated(f"replica {replica_id!r}"), self._engine.begin() as conn:
            result = conn.execute(
                update(replicas)
                .where(replicas.c.replica_id == replica_id)
                .values(heartbeat_at=time.time())
            )
            return bool(result.rowcount)

    def deregister(self, replica_id: str) -> None:
        """Remove this replica's row (clean shutdown)."""
        from sqlalchemy import delete

        with translated(f"replica {replica_id!r}"), self._engine.begin() as conn:
            conn.execute(delete(replicas).where(replicas.c.replica_id == replica_id))

    def find(
        self, service_name: str | None = None, *, alive: bool | None = None
    ) -> list[ReplicaRecord]:
        """Replicas (of one service, or all), oldest first; ``alive`` filters on the heartbeat."""
        from sqlalchemy import select

        query = select(replicas).order_by(replicas.c.started_at)
        if service_name is not None:
            query = query.where(replicas.c.service_name == service_name)
        with translated("replicas"), self._engine.connect() as conn:
            found = [ReplicaRecord.model_validate(row._asdict()) for row in conn.execute(query)]
        if alive is None:
            return found
        now = time.time()
        return [replica for replica in found if replica.is_alive(now) == alive]

    def prune(self, service_name: str | None = None) -> list[ReplicaRecord]:
        """Delete the rows of dead replicas and return them."""
        from sqlalchemy import delete

        dead = self.find(service_name, alive=False)
        if dead:
            ids = [replica.replica_id for replica in dead]
            with translated("replicas"), self._engine.begin() as conn:
                conn.execute(delete(replicas).where(replicas.c.replica_id.in_(ids)))
        return dead
