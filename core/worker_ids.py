"""Snowflake worker ids: each process mints with its own, leased from PostgreSQL.

The table `worker_ids` has one row per id (0-1023). A process claims the lowest free one (or
one whose lease expired) in one statement, SKIP LOCKED so that claims never wait for each
other; renews it every third of WORKER_LEASE_SECONDS; and frees it when it stops. It mints
only until a little before its lease would expire, by its own monotonic clock: a process that
cannot renew in time (the database away, the process frozen) stops minting before anyone else
may take its id, and takes one again once it can. Each lease records the last millisecond its
holder may have minted in, and the next holder starts above it, whatever the clocks say.

WORKER_ID, when configured, wins: that id is marked held as well (so leases avoid it) and
renewed, but never lapses in the process (it is the operator's promise) nor is freed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import BigInteger, Update, cast, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from core import ids, tasks
from core.config import Settings
from core.db import Database
from models import WorkerId

log = logging.getLogger("chirp.worker_ids")
_VALID = 0.9  # of a lease's length: minting stops this far in, before anybody can take the id


_NOW_MS = cast(func.floor(func.extract("epoch", func.now()) * 1000), BigInteger)


class Lease:
    def __init__(self, db: Database, *, seconds: float, configured: int | None = None) -> None:
        self._db = db
        self._seconds = seconds
        self._configured = configured
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.worker_id: int | None = None

    async def claim(self) -> int:
        """Takes a worker id (WORKER_ID when configured) and mints with it."""
        started = time.monotonic()
        if self._configured is not None:
            statement = self._take(update(WorkerId).where(WorkerId.worker_id == self._configured))
        else:
            free = (
                select(WorkerId.worker_id)
                .where(WorkerId.expires_at < func.now())
                .order_by(WorkerId.worker_id)
                .limit(1)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            # the last holder minted nothing after its lease lapsed, which is before now: the
            # floor is now (by PostgreSQL's clock), and never later, so no id is dated ahead
            lapsed = func.greatest(WorkerId.minted_ms, _NOW_MS)
            statement = self._take(
                update(WorkerId).where(WorkerId.worker_id == free), minted_ms=lapsed
            )
        async with self._db.engine.begin() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            raise RuntimeError("No Snowflake worker id is free: 1,024 processes hold one.")
        self.worker_id = row.worker_id
        ids.hold(self.holder, row.worker_id, self._until(started), floor_ms=row.minted_ms)
        log.info("Snowflake worker id %d held by %s", row.worker_id, self.holder)
        return int(row.worker_id)

    async def renew(self) -> bool:
        """Extends the lease; False when it was lost (it expired, and another took it). Records
        the newest millisecond minted so far; what is minted after it, until the lease lapses,
        is below the lapse itself, which the next holder starts above (`claim`)."""
        started = time.monotonic()
        statement = update(WorkerId).where(WorkerId.worker_id == self.worker_id)
        if self._configured is None:
            statement = statement.where(
                WorkerId.holder == self.holder, WorkerId.expires_at > func.now()
            )
        minted = func.greatest(WorkerId.minted_ms, ids.last_minted_ms())
        statement = self._take(statement, minted_ms=minted)
        async with self._db.engine.begin() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            return False
        ids.hold(self.holder, row.worker_id, self._until(started))
        return True

    async def run(self) -> None:
        """Renews the lease until cancelled; takes another when it was lost."""
        outage = False
        while not tasks.stopping():
            await asyncio.sleep(self._seconds / 3)
            try:
                async with asyncio.timeout(self._seconds / 3):
                    if not await self.renew():
                        log.warning(
                            "Snowflake worker id %s was lost; taking another", self.worker_id
                        )
                        await self.claim()
            except (SQLAlchemyError, OSError, TimeoutError) as error:
                if not outage:
                    log.warning("Snowflake worker id lease not renewed (%r); retrying", error)
                outage = True
                continue
            if outage:
                log.info("Snowflake worker id lease renewed again")
            outage = False

    async def release(self) -> None:
        """Stops minting with the id, and frees it for the next process; a configured one is
        left to lapse (another app of this process may hold it too: tests)."""
        ids.drop(self.holder)
        if self.worker_id is None or self._configured is not None:
            return
        statement = (
            update(WorkerId)
            .where(WorkerId.worker_id == self.worker_id, WorkerId.holder == self.holder)
            .values(holder=None, expires_at=func.now(), minted_ms=ids.last_minted_ms())
        )
        try:
            async with self._db.engine.begin() as connection:
                await connection.execute(statement)
        except (SQLAlchemyError, OSError):
            log.warning("Snowflake worker id %d not freed: it lapses by itself", self.worker_id)

    def _take(self, statement: Update, **values: object) -> Update:
        expires = func.now() + timedelta(seconds=self._seconds)
        return statement.values(holder=self.holder, expires_at=expires, **values).returning(
            WorkerId.worker_id, WorkerId.minted_ms
        )

    def _until(self, started: float) -> float:
        return math.inf if self._configured is not None else started + self._seconds * _VALID


@asynccontextmanager
async def leased(
    db: Database, *, seconds: float, configured: int | None = None
) -> AsyncIterator[Lease]:
    """A worker id for this process while the block runs: claimed, renewed, then freed."""
    lease = Lease(db, seconds=seconds, configured=configured)
    await lease.claim()
    renewing = tasks.keep_running("worker-id lease", lease.run)
    try:
        yield lease
    finally:
        await tasks.stop([renewing])
        await lease.release()


@asynccontextmanager
async def leased_at(database_url: str) -> AsyncIterator[Lease]:
    """A leased worker id for a tool (a benchmark writing rows of its own) while the block runs."""
    db = Database.connect(database_url, pool_size=1)
    try:
        async with leased(db, seconds=Settings.from_env().worker_lease_seconds) as lease:
            yield lease
    finally:
        await db.dispose()
