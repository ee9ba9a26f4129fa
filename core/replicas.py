"""PostgreSQL streaming replicas that take reads, and which of them may take one now.

A background loop (`Replicas.run`) asks, every POLL_SECONDS, the primary for its WAL position
and each replica for the position it has replayed. A replica's lag is the time since it last
held everything the primary had written at one of those samples: zero while it keeps up, and
growing while the primary writes on and the replica does not replay (paused, or far behind),
however idle or busy the primary is. A replica that does not answer, is no longer a standby,
or lags past `max_lag` seconds is left out until a poll finds it well again.

Positions are bytes of WAL (`pg_lsn - '0/0'`): a read that must see a write asks for a replica
whose replayed position, as last polled, is at least the write's (positions only grow, so the
polled one never overstates what the replica holds).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core import tasks
from core.metrics import REPLICA_LAG, REPLICA_LEFT_OUT, REPLICA_USABLE

log = logging.getLogger("chirp.replicas")

POLL_SECONDS = 0.1
POLL_TIMEOUT_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 1.0
_PRIMARY = text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
_REPLICA = text("SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")


def replica_engine(url: str, *, pool_size: int) -> AsyncEngine:
    """Reads only, outside transactions; a pooled connection is pinged when taken, so that one
    left dead by a replica's restart costs a reconnect rather than a failed read."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_recycle=1800,
        pool_pre_ping=True,
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
    )


@dataclass(eq=False)
class Replica:
    name: str  # host:port/database, as in the metrics
    reader: AsyncEngine
    replayed: int = -1  # bytes of WAL replayed, as last polled
    lag: float = 0.0
    usable: bool = False
    reason: str = "down"  # why it is left out: down, lag, not_standby

    def fail(self) -> None:
        """A read found it away: left out until a poll finds it back."""
        self._leave_out("down")

    def _leave_out(self, reason: str) -> None:
        if self.usable:
            REPLICA_LEFT_OUT.labels(self.name, reason).inc()
            log.warning("replica %s left out: %s (lag %.1f s)", self.name, reason, self.lag)
        self.usable, self.reason = False, reason
        REPLICA_USABLE.labels(self.name).set(0)

    def _take_back(self) -> None:
        if not self.usable:
            log.info("replica %s takes reads (lag %.1f s)", self.name, self.lag)
        self.usable = True
        REPLICA_USABLE.labels(self.name).set(1)


def _name(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host}:{parsed.port or 5432}/{parsed.database}"


@dataclass(eq=False)
class Replicas:
    primary: AsyncEngine  # autocommit, for the primary's position
    members: list[Replica]
    max_lag: float
    _samples: deque[tuple[float, int]] = field(default_factory=deque)  # (monotonic, position)
    _turns: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def connect(
        cls, primary: AsyncEngine, urls: Sequence[str], *, pool_size: int, max_lag: float
    ) -> Replicas:
        members = [Replica(_name(url), replica_engine(url, pool_size=pool_size)) for url in urls]
        for member in members:
            REPLICA_USABLE.labels(member.name).set(0)
        return cls(primary, members, max_lag)

    def choose(self, after: int | None) -> Replica | None:
        """A usable replica that has replayed `after` (any usable one for None), taken in
        turns; None when there is none: the read goes to the primary."""
        usable = [
            member
            for member in self.members
            if member.usable and (after is None or member.replayed >= after)
        ]
        if not usable:
            return None
        return usable[next(self._turns) % len(usable)]

    async def run(self) -> None:
        while not tasks.stopping():
            await self.poll()
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """One sample of the primary, then one of each replica, side by side."""
        try:
            position = await asyncio.wait_for(self._position(), POLL_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - the primary away: the replicas' lag is not known
            position = None
        now = time.monotonic()
        if position is not None:
            self._samples.append((now, position))
        while len(self._samples) > 1 and self._samples[1][0] < now - 2 * self.max_lag - 1:
            self._samples.popleft()
        sampled = position is not None  # else no write moves on: the lags stay as they were
        await asyncio.gather(*(self._poll(member, now, sampled) for member in self.members))

    async def _position(self) -> int:
        async with self.primary.connect() as connection:
            return int((await connection.execute(_PRIMARY)).scalar_one())

    async def _poll(self, member: Replica, now: float, sampled: bool) -> None:
        try:
            async with asyncio.timeout(POLL_TIMEOUT_SECONDS):
                async with member.reader.connect() as connection:
                    standby, replayed = (await connection.execute(_REPLICA)).one()
        except Exception as error:  # noqa: BLE001 - any failure leaves it out
            if member.usable:
                log.warning("replica %s does not answer: %r", member.name, error)
            member._leave_out("down")
            await member.reader.dispose()  # its pooled connections died with it
            return
        if not standby or replayed is None:
            member._leave_out("not_standby")
            return
        member.replayed = max(member.replayed, int(replayed))
        if sampled:
            member.lag = self._lag(member.replayed, now)
        REPLICA_LAG.labels(member.name).set(member.lag)
        if member.lag > self.max_lag:
            member._leave_out("lag")
        else:
            member._take_back()

    def _lag(self, replayed: int, now: float) -> float:
        """Seconds since the newest sample of the primary that `replayed` covers."""
        for sampled_at, position in reversed(self._samples):
            if replayed >= position:
                return 0.0 if sampled_at == self._samples[-1][0] else now - sampled_at
        return now - self._samples[0][0] if self._samples else 0.0

    async def dispose(self) -> None:
        for member in self.members:
            await member.reader.dispose()
