"""The outbox relay under faults: its LISTEN connection lost, the broker away.

The relay runs here on the real database with a stand-in for the broker (tests/test_workers.py
runs the real one), so that the test decides when handing over fails.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pika
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, make_url, text

from core.config import Settings
from core.db import Database
from models import OutboxEvent
from services import outbox
from workers import relay

Events = list[tuple[str, dict[str, Any]]]


class Broker:
    """Takes events, after failing the first `failures` times as a RabbitMQ that is away does."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts: list[float] = []  # when each hand-over was tried (monotonic)
        self.taken: Events = []
        self._lock = threading.Lock()

    def send(self, events: Events) -> None:
        with self._lock:
            self.attempts.append(time.monotonic())
            if len(self.attempts) <= self.failures:
                pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:1/"))
            self.taken += events

    def holds(self, marker: str) -> bool:
        with self._lock:
            return any(payload.get("marker") == marker for _, payload in self.taken)


@asynccontextmanager
async def relaying(db: Database, settings: Settings, broker: Broker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    dsn = make_url(settings.database_url or "").set(drivername="postgresql")
    running = asyncio.create_task(
        relay.run(db, broker.send, stop, dsn.render_as_string(hide_password=False))
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)


async def record(db: Database) -> str:
    """Commits an outbox row (and its NOTIFY), which the stand-in broker takes; its marker."""
    marker = uuid.uuid4().hex
    async with db.transaction() as session:
        await session.execute(insert(OutboxEvent).values(topic="test", payload={"marker": marker}))
        await session.execute(text(f"NOTIFY {outbox.CHANNEL}"))
    return marker


async def eventually(check: Callable[[], Any], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not (await found if inspect.isawaitable(found := check()) else found):
        assert time.monotonic() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.02)


async def listeners(db: Database) -> list[int]:
    """The backends listening on this session's database: the relay's."""
    async with db.read() as connection:
        found = await connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
        return list(found.scalars())


def counted(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0


async def test_a_lost_listen_connection_is_made_again_and_wakes_the_relay(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a PostgreSQL restart (here: its LISTEN backend terminated) the relay listens again,
    and an event is relayed on its NOTIFY, not by polling (which is turned off)."""
    monkeypatch.setattr(relay, "POLL_SECONDS", 3600.0)
    broker = Broker()
    outages = counted("outbox_relay_outages_total", "listen")
    async with relaying(db, settings, broker):
        await eventually(lambda: listeners(db), "the relay listens")
        [lost] = await listeners(db)
        async with db.read() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})

        async def listening_again() -> bool:
            found = await listeners(db)
            return bool(found) and lost not in found

        await eventually(listening_again, "the relay listens again")
        marker = await record(db)
        await eventually(lambda: broker.holds(marker), "relayed on its NOTIFY", 10)
    assert counted("outbox_relay_outages_total", "listen") == outages + 1


async def test_a_failing_broker_is_retried_with_growing_pauses_and_logged_once(
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the broker fails, NOTIFYs (here: one every 20 ms) do not make the relay retry
    sooner; each pause is twice the one before; one line says it failed, one that it works."""
    monkeypatch.setattr(relay, "RETRY_PAUSE", 0.1)
    failures = 4
    broker = Broker(failures)
    outages, retries = (
        counted("outbox_relay_outages_total", "send"),
        counted("outbox_relay_retries_total", "send"),
    )
    caplog.set_level(logging.INFO, logger="chirp.relay")
    async with relaying(db, settings, broker):
        marker = await record(db)
        notifying = asyncio.create_task(_notify_every(db, 0.02))
        try:
            await eventually(lambda: broker.holds(marker), "relayed once the broker is back")
        finally:
            notifying.cancel()
    gaps = [later - earlier for earlier, later in itertools.pairwise(broker.attempts)]
    assert len(broker.attempts) == failures + 1
    assert all(gap >= 0.1 * 2**i * 0.95 for i, gap in enumerate(gaps))
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "chirp.relay"]
    assert [level for level, _ in lines] == ["WARNING", "INFO"]
    assert "AMQPConnectionError" in lines[0][1] and "4 failed attempts" in lines[1][1]
    assert counted("outbox_relay_outages_total", "send") == outages + 1
    assert counted("outbox_relay_retries_total", "send") == retries + failures


async def _notify_every(db: Database, seconds: float) -> None:
    while True:
        async with db.read() as connection:
            await connection.execute(text(f"NOTIFY {outbox.CHANNEL}"))
        await asyncio.sleep(seconds)
