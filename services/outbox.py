"""The transactional outbox: a unit of work's events, kept with the change and delivered after it
commits.

The unit of work (services/work.py) writes its events here inside its transaction; the relay
(workers/relay.py) hands committed rows to the broker and deletes them, so nothing is lost while
the broker is down, and a worker turns each into its effects (services/effects.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from models import OutboxEvent
from services import events

CHANNEL = "outbox"


async def record(session: AsyncSession, recorded: Sequence[events.Event]) -> None:
    """One row per event, in one statement, and a NOTIFY that wakes the relay at the commit."""
    if not recorded:
        return
    rows = [{"topic": topic, "payload": payload} for topic, payload in map(events.encode, recorded)]
    await session.execute(insert(OutboxEvent).values(rows))
    await session.execute(text(f"NOTIFY {CHANNEL}"))
