"""The database: one engine, sessions for writes, autocommit connections for reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.metrics import STATEMENTS

T = TypeVar("T")


def _count_statement(*_: object) -> None:
    STATEMENTS.inc()


def connection_lost(error: BaseException) -> bool:
    """Whether the error says the connection to the database died (the server restarted, or
    ended it while it idled in the pool) or could not be made (the server is away)."""
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, OSError)  # refused, reset, timed out: before any DBAPI error


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
            try:
                yield self._connection
            except Exception as error:
                if connection_lost(error):  # the next read takes a fresh one
                    dead, self._connection = self._connection, None
                    await dead.close()
                raise

    async def run(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`read` on the request's connection, and once more on a fresh one when that one
        turns out dead: a read changes nothing, so running it twice is safe, and what a
        mutation answers after its commit does not fail for a connection that died in the pool
        (SQLAlchemy then also retires the pool's other connections older than the failure)."""
        try:
            async with self.connection() as connection:
                return await read(connection)
        except Exception as error:  # noqa: BLE001 - only a lost connection is tried again
            if not connection_lost(error):
                raise
        async with self.connection() as connection:
            return await read(connection)

    async def close(self) -> None:
        """Gives the connection back; a later read takes one again (a WebSocket's next event)."""
        if self._connection is None and not self._lock.locked():
            return  # none taken, none being taken
        async with self._lock:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                await _give_back(connection)

    async def finish(self) -> None:
        """Gives the connection back for good: the request has been answered. Work the
        executor left running (a loader's batch whose field was abandoned when a sibling's
        error nulled their parent) still reads, each time on a connection of its own that it
        gives back at once, instead of taking one that nobody would close."""
        self._finished = True
        await self.close()


async def _give_back(connection: AsyncConnection) -> None:
    """To the pool; or away, when its server ended it while the request held it unused (the
    pool would hand it to the next request, whose first read would fail)."""
    try:
        driver = (await connection.get_raw_connection()).driver_connection
    except SQLAlchemyError:  # invalidated already (a read failed): closing it discards it
        driver = None
    if driver is not None and driver.is_closed():
        await connection.invalidate()
    await connection.close()
