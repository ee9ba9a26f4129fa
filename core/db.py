"""The database: one engine, sessions for writes, autocommit connections for reads.

With DATABASE_REPLICA_URLS, a request's reads (RequestReads) go to a streaming replica that
has replayed the viewer's last write (core/replicas.py, core/read_your_writes.py), else to the
primary; writes, and every read of a unit of work, stay on the primary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.metrics import DB_READS, STATEMENTS, series
from core.replicas import Replica, Replicas

T = TypeVar("T")
_WAL_POSITION = text("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
UNKNOWN_POSITION = 2**63 - 1  # a write whose position could not be read: the primary's alone


def _count_statement(*_: object) -> None:
    STATEMENTS.inc()


def connection_lost(error: BaseException) -> bool:
    """Whether the error says the connection to the database died (the server restarted, or
    ended it while it idled in the pool) or could not be made (the server is away)."""
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, OSError)  # refused, reset, timed out: before any DBAPI error


def recovery_conflict(error: BaseException) -> bool:
    """Whether a replica cancelled the statement, its replay needing what the statement read
    (SQLSTATE 40001 there: "canceling statement due to conflict with recovery")."""
    return isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) == "40001"


@dataclass
class Database:
    engine: AsyncEngine
    reader: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    replicas: Replicas | None = None  # DATABASE_REPLICA_URLS: the API's reads (app.py)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        pool_size: int = 20,
        replica_urls: tuple[str, ...] = (),
        replica_max_lag: float = 5.0,
    ) -> Database:
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size // 2, pool_recycle=1800
        )
        event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
        reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        replicas = None
        if replica_urls:
            replicas = Replicas.connect(
                reader, replica_urls, pool_size=pool_size, max_lag=replica_max_lag
            )
            for member in replicas.members:
                event.listen(member.reader.sync_engine, "before_cursor_execute", _count_statement)
        return cls(
            engine=engine,
            reader=reader,
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            replicas=replicas,
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

    async def wal_position(self) -> int:
        """The primary's WAL position now: past the commit of every write that returned."""
        try:
            async with self.read() as connection:
                return int((await connection.execute(_WAL_POSITION)).scalar_one())
        except Exception as error:
            if not connection_lost(error):
                raise
            return UNKNOWN_POSITION

    async def dispose(self) -> None:
        if self.replicas is not None:
            await self.replicas.dispose()
        await self.engine.dispose()


Recall = Callable[[], Awaitable[int | None]]


class RequestReads:
    """One pooled connection for every read of one request (or one WebSocket event).

    Taken on first use and given back by close(); batches that run concurrently take turns on
    it, which costs nothing since a connection answers one statement at a time anyway.

    On the primary, unless `recall` is given and the database has replicas: then on a usable
    replica that has replayed the WAL position `recall` answers (the viewer's last write; None:
    any), and on the primary once this request wrote (after_write) until one has replayed that.
    """

    def __init__(self, db: Database, *, recall: Recall | None = None) -> None:
        self._db = db
        self._recall = recall if db.replicas is not None else None
        self._connection: AsyncConnection | None = None
        self._replica: Replica | None = None  # the connection's, when on one
        self._written: int | None = None  # this request's last write
        self._lock = asyncio.Lock()
        self._finished = False

    @asynccontextmanager
    async def connection(self, *, primary: bool = False) -> AsyncIterator[AsyncConnection]:
        """The request's connection; with `primary`, one on the primary (the request's when
        it is there): for reads whose answer is kept beyond the request (a cache's fill)."""
        if self._finished or (primary and self._recall is not None and not self._on_primary()):
            async with self._db.read() as connection:
                series(DB_READS, "primary").inc()
                yield connection
            return
        async with self._lock:
            if self._connection is None:
                self._connection, self._replica = await self._connect()
            try:
                yield self._connection
            except Exception as error:
                replica = self._replica
                if connection_lost(error) or (replica is not None and recovery_conflict(error)):
                    dead, self._connection, self._replica = self._connection, None, None
                    if replica is not None and connection_lost(error):
                        replica.fail()
                    elif replica is not None:  # the replay cancelled the read: the primary's
                        self._recall = None
                    await dead.close()
                raise

    @property
    def replicated(self) -> bool:
        """Whether these reads may go to a replica."""
        return self._recall is not None

    def _on_primary(self) -> bool:
        return self._connection is not None and self._replica is None

    async def _connect(self) -> tuple[AsyncConnection, Replica | None]:
        replicas = self._db.replicas
        if self._recall is not None and replicas is not None:
            replica = replicas.choose(await self._position())
            if replica is not None:
                try:
                    connection = await replica.reader.connect()
                except Exception:  # noqa: BLE001 - a replica away: the primary reads
                    replica.fail()
                else:
                    series(DB_READS, "replica").inc()
                    return connection, replica
        series(DB_READS, "primary").inc()
        return await self._db.reader.connect(), None

    async def _position(self) -> int:
        """What the reads must see: the viewer's last write and this request's."""
        assert self._recall is not None
        try:
            recalled = await self._recall()
        except Exception:  # noqa: BLE001 - Redis away: which writes are whose is not known
            recalled = UNKNOWN_POSITION
        return max(recalled or -1, self._written or -1)

    async def after_write(self, position: int) -> None:
        """This request wrote: its reads from now on see the write."""
        self._written = max(position, self._written or -1)
        replica = self._replica
        if replica is not None and replica.replayed < position:
            await self.close()

    async def run(
        self, read: Callable[[AsyncConnection], Awaitable[T]], *, primary: bool = False
    ) -> T:
        """`read` on the request's connection, and once more on a fresh one when that one
        turns out dead: a read changes nothing, so running it twice is safe, and what a
        mutation answers after its commit does not fail for a connection that died in the pool
        (SQLAlchemy then also retires the pool's other connections older than the failure).
        A replica that failed the read is left out, and the second try goes elsewhere; a read a
        replica cancelled for a conflict with its replay is tried again on the primary."""
        try:
            async with self.connection(primary=primary) as connection:
                return await read(connection)
        except Exception as error:  # noqa: BLE001 - only a lost connection is tried again
            if not connection_lost(error) and not recovery_conflict(error):
                raise
        async with self.connection(primary=primary) as connection:
            return await read(connection)

    async def close(self) -> None:
        """Gives the connection back; a later read takes one again (a WebSocket's next event)."""
        if self._connection is None and not self._lock.locked():
            return  # none taken, none being taken
        async with self._lock:
            if self._connection is not None:
                connection, self._connection, self._replica = self._connection, None, None
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
