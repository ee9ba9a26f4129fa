"""The outbox relay: hands committed outbox events to the broker, then deletes them.

Events stay in the database until the broker has taken them, so posting keeps working while
the broker is down and nothing is lost. A crash between sending and deleting sends an event
twice: the actors are idempotent. Wakes on NOTIFY from services/outbox.py, and polls besides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import delete, make_url, select

from core.config import Settings
from core.db import Database
from models import OutboxEvent
from services.outbox import CHANNEL

logger = logging.getLogger("chirp.relay")
BATCH = 500
POLL_SECONDS = 1.0
Send = Callable[[list[tuple[str, dict[str, Any]]]], None]


async def relay_once(db: Database, send: Send) -> int:
    """Sends one batch of events; returns how many (0 when the outbox is empty)."""
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.payload)
                .order_by(OutboxEvent.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return 0
        await asyncio.to_thread(send, [(row.topic, row.payload) for row in rows])
        await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_([r.id for r in rows])))
    return len(rows)


async def run(db: Database, send: Send, stop: asyncio.Event, listen_dsn: str) -> None:
    woken = asyncio.Event()
    listener = await asyncpg.connect(listen_dsn)
    await listener.add_listener(CHANNEL, lambda *_: woken.set())
    try:
        while not stop.is_set():
            try:
                while await relay_once(db, send):
                    pass
            except Exception:  # noqa: BLE001 - broker or database away: keep the events, retry
                logger.warning("outbox relay failed; retrying", exc_info=True)
            woken.clear()
            waits = [asyncio.ensure_future(woken.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
    finally:
        await listener.close()


def broker_send(events: list[tuple[str, dict[str, Any]]]) -> None:
    from workers.actors import run_job

    for topic, payload in events:
        run_job.send(topic, payload)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Relays until `stop` is set."""
    dsn = make_url(settings.database_url or "").set(drivername="postgresql")
    db = Database.connect(settings.database_url or "", pool_size=2)
    try:
        await run(db, broker_send, stop, dsn.render_as_string(hide_password=False))
    finally:
        await db.dispose()
