"""The request's read connection (core/db.py RequestReads) goes back to the pool clean."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from core.db import Database, RequestReads


async def test_a_read_cancelled_mid_statement_leaves_close_working(db: Database) -> None:
    """graphql-core cancels the fields beside one whose error nulls their parent; a read so
    cancelled leaves its connection invalidated, and giving it back must not raise (it raised
    PendingRollbackError: an INTERNAL_SERVER_ERROR for an answer already made)."""
    reads = RequestReads(db)

    async def slow() -> None:
        async with reads.connection() as connection:
            await connection.execute(text("SELECT pg_sleep(5)"))

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await reads.close()
    await reads.finish()
    async with db.read() as connection:  # the pool still serves
        assert await connection.scalar(text("SELECT 1")) == 1


async def test_a_connection_its_server_ended_is_not_handed_to_the_next_request(
    db: Database,
) -> None:
    reads = RequestReads(db)
    async with reads.connection() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    async with db.read() as other:
        assert await other.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    await asyncio.sleep(0.1)  # the client sees the connection end
    await reads.close()
    for _ in range(3):  # whichever pooled connection comes next works at its first read
        async with db.read() as connection:
            assert await connection.scalar(text("SELECT pg_backend_pid()")) != pid
