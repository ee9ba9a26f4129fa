"""The outbox relay: hands committed outbox events to the broker, then deletes them.

Events stay in the database until the broker has taken them, so posting keeps working while
the broker is down and nothing is lost. A crash between sending and deleting sends an event
twice: the actors are idempotent. Wakes on NOTIFY from services/outbox.py, and polls besides.

Faults cost little: while handing events over fails (the broker or the database away), the
relay retries after pauses that grow up to RETRY_PAUSE_MAX, whatever NOTIFYs arrive meanwhile;
a lost LISTEN connection (a restarted PostgreSQL) is made again the same way, polling until
then. Each outage is one warning when it begins and one line when it ends, and is counted in
`outbox_relay_outages_total` and `outbox_relay_retries_total` (by kind: send, listen).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import delete, make_url, select

from core.config import Settings
from core.db import Database
from core.metrics import RELAY_OUTAGES, RELAY_RETRIES
from core.tasks import Backoff
from models import OutboxEvent
from services.outbox import CHANNEL

logger = logging.getLogger("chirp.relay")
BATCH = 500
POLL_SECONDS = 1.0
RETRY_PAUSE, RETRY_PAUSE_MAX = 0.5, 30.0
CONNECT_TIMEOUT_SECONDS = 10.0
LISTENER_NAME = "chirp-relay"  # the LISTEN connection's application_name, in pg_stat_activity
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


class _Outage:
    """One part's failures: logged when they begin and when they end, counted, paced."""

    def __init__(self, kind: str, what: str) -> None:
        self._kind = kind
        self._what = what
        self._pauses = Backoff(RETRY_PAUSE, RETRY_PAUSE_MAX)
        self._since: float | None = None
        self._retries = 0

    def failed(self, error: BaseException) -> float:
        """Counts a failure; returns the pause before the next attempt."""
        RELAY_RETRIES.labels(self._kind).inc()
        self._retries += 1
        if self._since is None:
            self._since = time.monotonic()
            RELAY_OUTAGES.labels(self._kind).inc()
            logger.warning(
                "outbox relay: %s failed (%s: %s); retrying with backoff",
                self._what,
                type(error).__name__,
                error,
            )
        return self._pauses.next()

    def recovered(self) -> None:
        if self._since is not None:
            logger.info(
                "outbox relay: %s works again, after %.1f s and %d failed attempts",
                self._what,
                time.monotonic() - self._since,
                self._retries,
            )
        self._since, self._retries = None, 0
        self._pauses.reset()


class _Listener:
    """The LISTEN connection, made again after it is lost."""

    def __init__(self, dsn: str, woken: asyncio.Event) -> None:
        self._dsn = dsn
        self._woken = woken
        self._connection: asyncpg.Connection | None = None
        self._outage = _Outage("listen", "the LISTEN connection")
        self._due = 0.0  # when to try connecting again (monotonic)

    async def ensure(self) -> None:
        """Connects and listens, unless connected or waiting out a pause; never raises."""
        if self._connection is not None or time.monotonic() < self._due:
            return
        try:
            connection = await asyncpg.connect(
                self._dsn,
                timeout=CONNECT_TIMEOUT_SECONDS,
                server_settings={"application_name": LISTENER_NAME},
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            self._due = time.monotonic() + self._outage.failed(error)
            return
        try:
            await connection.add_listener(CHANNEL, lambda *_: self._woken.set())
        except (OSError, asyncpg.PostgresError) as error:
            connection.terminate()
            self._due = time.monotonic() + self._outage.failed(error)
            return
        connection.add_termination_listener(self._lost)
        self._connection = connection
        self._outage.recovered()

    def pause(self) -> float:
        """How long the relay may wait for a NOTIFY: while there is no connection to send one,
        it polls, and wakes in time to connect again."""
        if self._connection is not None:
            return POLL_SECONDS
        return max(min(POLL_SECONDS, self._due - time.monotonic()), 0.0)

    def _lost(self, connection: object) -> None:
        if connection is self._connection:
            self._connection = None
            self._due = time.monotonic() + self._outage.failed(ConnectionError("connection lost"))
            self._woken.set()  # the loop polls meanwhile

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


async def run(db: Database, send: Send, stop: asyncio.Event, listen_dsn: str) -> None:
    woken = asyncio.Event()
    listener = _Listener(listen_dsn, woken)
    sending = _Outage("send", "handing events to the broker")
    try:
        while not stop.is_set():
            await listener.ensure()
            woken.clear()  # a NOTIFY from now on wakes the next turn
            try:
                while await relay_once(db, send):
                    pass
            except Exception as error:  # noqa: BLE001 - broker or database away: keep the events
                await _until(stop, sending.failed(error))  # NOTIFYs do not cut the pause short
                continue
            sending.recovered()
            await _until(stop, listener.pause(), woken)
    finally:
        await listener.close()


async def _until(stop: asyncio.Event, seconds: float, woken: asyncio.Event | None = None) -> None:
    """Waits `seconds`, or less when `stop` (or `woken`) is set."""
    events = [stop] if woken is None else [stop, woken]
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiting in waits:
        waiting.cancel()


def broker_send(events: list[tuple[str, dict[str, Any]]]) -> None:
    from workers.actors import run_job

    for topic, payload in events:
        run_job.send(topic, payload)


async def serve(settings: Settings, db: Database, stop: asyncio.Event) -> None:
    """Relays until `stop` is set."""
    dsn = make_url(settings.database_url or "").set(drivername="postgresql")
    await run(db, broker_send, stop, dsn.render_as_string(hide_password=False))
