"""Snowflake worker ids leased from PostgreSQL: one per process, whatever Redis does.

The session's app is configured with WORKER_ID=1 (tests/conftest.py): its id is marked held
in the table too, so no lease hands it out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select, text, update
from starlette.applications import Starlette

from app import create_app
from core import ids, worker_ids
from core.config import Settings
from core.db import Database
from models import WorkerId

SESSION_WORKER_ID = 1  # tests/conftest.py


def worker_of(snowflake: int) -> int:
    return (snowflake >> 12) & ids.MAX_WORKER_ID


async def lease(db: Database, **options: Any) -> worker_ids.Lease:
    taken = worker_ids.Lease(db, seconds=30, **options)
    await taken.claim()
    return taken


async def test_api_processes_mint_with_distinct_ids_across_a_redis_restart(
    app: Starlette, settings: Settings
) -> None:
    """Two API processes started on either side of a Redis restart (its data gone): distinct
    worker ids, neither the session's."""
    first, second = (create_app(replace(settings, worker_id=None)) for _ in range(2))
    async with first.router.lifespan_context(first):
        minted_first = ids.new_id()
        await app.state.redis.flushdb()  # what a restart without persistence leaves
        async with second.router.lifespan_context(second):
            minted_second = ids.new_id()
    workers = {worker_of(minted_first), worker_of(minted_second), SESSION_WORKER_ID}
    assert len(workers) == 3


async def test_claims_at_once_take_distinct_ids(db: Database) -> None:
    leases = await asyncio.gather(*(lease(db) for _ in range(16)))
    try:
        taken = [held.worker_id for held in leases]
        assert len(set(taken)) == 16 and SESSION_WORKER_ID not in taken
    finally:
        for held in leases:
            await held.release()


async def test_a_configured_worker_id_wins_and_leases_avoid_it(db: Database) -> None:
    configured = await lease(db, configured=7)
    leases = [await lease(db) for _ in range(12)]
    try:
        assert configured.worker_id == 7
        assert 7 not in [held.worker_id for held in leases]
    finally:
        for held in [configured, *leases]:
            await held.release()


async def test_a_lost_lease_is_replaced_and_its_id_no_longer_minted(db: Database) -> None:
    held = worker_ids.Lease(db, seconds=0.3)
    lost = await held.claim()
    running = asyncio.create_task(held.run())
    try:
        async with db.engine.begin() as connection:  # it lapsed, and another process took it
            await connection.execute(
                update(WorkerId)
                .where(WorkerId.worker_id == lost)
                .values(holder="another process", expires_at=text("now() + interval '1 hour'"))
            )
        deadline = time.monotonic() + 30
        while held.worker_id == lost:
            assert time.monotonic() < deadline, "the lost lease was not replaced"
            await asyncio.sleep(0.05)
        assert worker_of(ids.new_id()) == held.worker_id != lost
    finally:
        running.cancel()
        await held.release()
        async with db.engine.begin() as connection:
            await connection.execute(
                update(WorkerId).where(WorkerId.worker_id == lost).values(expires_at=text("now()"))
            )


async def test_the_next_holder_starts_above_what_the_last_one_minted(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await lease(db)
    ids.new_id()
    await first.release()
    async with db.engine.connect() as connection:
        recorded = await connection.scalar(
            select(WorkerId.minted_ms).where(WorkerId.worker_id == first.worker_id)
        )
    assert recorded == ids.last_minted_ms()
    floors: list[int] = []
    monkeypatch.setattr(ids, "hold", lambda *_, floor_ms=0: floors.append(floor_ms))
    again = await lease(db)  # the lowest free id: the one just freed
    await again.release()
    assert again.worker_id == first.worker_id and len(floors) == 1
    assert recorded <= floors[0] <= time.time() * 1000 + 1000  # at most now: never ahead


async def test_ids_are_never_dated_ahead_of_the_clock_after_a_lease_changes_hands(
    db: Database,
) -> None:
    """Before: each renewal recorded `now + lease` as what its holder may have minted, and the
    next holder (a process restarted, or another app of the same process) started above it:
    ids, and every tweet's createdAt, 30 s in the future, more with each hand-over."""
    first = await lease(db)
    for _ in range(3):
        assert await first.renew()
    async with db.engine.begin() as connection:  # it lapses: the process died
        await connection.execute(
            update(WorkerId)
            .where(WorkerId.worker_id == first.worker_id)
            .values(expires_at=text("now() - interval '1 second'"))
        )
    ids.drop(first.holder)
    second = await lease(db)
    try:
        minted = ids.snowflake_time(ids.new_id()).timestamp()
        assert minted <= time.time() + 1  # not the lease's 30 s ahead
    finally:
        await second.release()
