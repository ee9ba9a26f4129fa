"""The unit of work: one transaction, the events its services record, and what follows them.

Every write, from a resolver, a REST handler, a worker job, a CLI command or a test, runs as

    async with unit_of_work(stores) as work:
        posted = await tweets.post_tweet(work, author_id=..., text=...)

Services act on `work.session` (they flush, never commit) and `work.record(event)` what they
did. At the end of the block the events go into the outbox in the same transaction, the
transaction commits, and then services/effects.py turns the events into their effects. A block
that raises commits nothing and has no effects; a broken constraint is the client's error its
meaning says (services/integrity.py). With read replicas, `work.wal_position` is then the
primary's WAL position past the commit (read-your-writes: core/read_your_writes.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services import effects, integrity, outbox
from services.events import Event
from services.stores import Stores


class Work:
    """What the services of one unit of work share: its session and the events they record."""

    __slots__ = ("session", "events", "unstored", "wal_position")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.events: list[Event] = []
        self.unstored: list[Event] = []  # what the outbox does not hold yet
        self.wal_position: int | None = None  # after the commit, with read replicas

    def record(self, event: Event) -> None:
        self.events.append(event)
        self.unstored.append(event)

    def store_with(self, event: Event) -> list[Event]:
        """Records the event, and hands it and every event the outbox does not hold yet to the
        service, which writes them in the statement of its change (services/outbox.py
        `written`): one round trip fewer, and the outbox keeps the order they happened in."""
        self.events.append(event)
        pending, self.unstored = [*self.unstored, event], []
        return pending


@asynccontextmanager
async def unit_of_work(stores: Stores) -> AsyncIterator[Work]:
    try:
        async with stores.db.transaction() as session:
            work = Work(session)
            yield work
            await outbox.record(session, work.unstored)
    except IntegrityError as error:
        meant = integrity.meaning(error)
        if meant is None:
            raise
        raise meant from None
    if stores.db.replicas is not None:  # where reads must have got to, to see this write
        work.wal_position = await stores.db.wal_position()
    await effects.after_commit(stores, work.events)
