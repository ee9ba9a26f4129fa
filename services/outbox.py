"""The transactional outbox: side effects recorded with the change, delivered after it commits.

A service calls `record` inside the caller's transaction; the relay (workers/relay.py) hands
committed events to the broker and deletes them, so nothing is lost while the broker is down.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from models import OutboxEvent

CHANNEL = "outbox"
_RECORDED = "outbox events"


async def record(session: AsyncSession, topic: str, **payload: Any) -> None:
    await session.execute(insert(OutboxEvent).values(topic=topic, payload=payload))
    await session.execute(text(f"NOTIFY {CHANNEL}"))  # wakes the relay when the commit lands
    session.info.setdefault(_RECORDED, []).append((topic, payload))


def recorded(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    """The events this session's transaction recorded (for effects shown at once)."""
    events: list[tuple[str, dict[str, Any]]] = session.info.pop(_RECORDED, [])
    return events
