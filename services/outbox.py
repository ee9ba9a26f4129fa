"""The transactional outbox: a unit of work's events, kept with the change and delivered after it
commits.

The unit of work (services/work.py) writes its events here inside its transaction; the relay
(workers/relay.py) hands committed rows to the broker and deletes them, so nothing is lost while
the broker is down, and a worker turns each into its effects (services/effects.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import CTE, Insert, func, insert, literal, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import Function

from models import OutboxEvent
from services import events

CHANNEL = "outbox"


async def record(session: AsyncSession, recorded: Sequence[events.Event]) -> None:
    """One row per event, in one statement, and a NOTIFY that wakes the relay at the commit."""
    if not recorded:
        return
    await session.execute(_insert(recorded))
    await session.execute(text(f"NOTIFY {CHANNEL}"))


def written(recorded: Sequence[events.Event]) -> tuple[CTE, Function[str]]:
    """The same, for a service that folds it into the statement of its change (the events
    `Work.store_with` hands it): a CTE that inserts the rows, to add to the statement, and the
    NOTIFY as a column of what it selects."""
    return _insert(recorded).cte("outbox_rows"), func.pg_notify(literal(CHANNEL), literal(""))


def _insert(recorded: Sequence[events.Event]) -> Insert:
    rows = [{"topic": topic, "payload": payload} for topic, payload in map(events.encode, recorded)]
    return insert(OutboxEvent).values(rows)
