"""The database: one engine, sessions for writes, autocommit connections for reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.metrics import STATEMENTS


def _count_statement(*_: object) -> None:
    STATEMENTS.inc()


@dataclass
class Database:
    engine: AsyncEngine
    reader: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 20) -> Database:
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size // 2, pool_recycle=1800
        )
        event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
        return cls(
            engine=engine,
            reader=engine.execution_options(isolation_level="AUTOCOMMIT"),
            sessions=async_sessionmaker(engine, expire_on_commit=False),
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back when it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection outside any transaction, for one batch of reads."""
        async with self.reader.connect() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()


class RequestReads:
    """One pooled connection for every read of one request (or one WebSocket event).

    Taken on first use and given back by close(); batches that run concurrently take turns on
    it, which costs nothing since a connection answers one statement at a time anyway.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._finished = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        if self._finished:
            async with self._db.read() as connection:
                yield connection
            return
        async with self._lock:
            if self._connection is None:
                self._connection = await self._db.reader.connect()
            yield self._connection

    async def close(self) -> None:
        """Gives the connection back; a later read takes one again (a WebSocket's next event)."""
        if self._connection is None and not self._lock.locked():
            return  # none taken, none being taken
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None

    async def finish(self) -> None:
        """Gives the connection back for good: the request has been answered. Work the
        executor left running (a loader's batch whose field was abandoned when a sibling's
        error nulled their parent) still reads, each time on a connection of its own that it
        gives back at once, instead of taking one that nobody would close."""
        self._finished = True
        await self.close()
