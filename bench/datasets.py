"""Seeded databases for the benchmarks, kept between runs (one per size and seed)."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import make_url

from bench.seed import asyncpg_dsn, seed
from bench.seedgen import Plan
from serve import migrate

_MARKER = "bench_dataset"


async def dataset(
    server_url: str,
    users: int,
    seed_value: int = 1,
    *,
    tweets_per_user: float = Plan.tweets_per_user,
    progress: bool = True,
) -> str:
    """The URL of a database holding `users` seeded users; seeds it the first time only.

    `tweets_per_user` makes more tweets without a bigger follow graph (the slow part of seeding
    many users); a dataset with another value than the default has a name of its own.
    """
    name = f"chirp_bench_{users}_{seed_value}"
    if tweets_per_user != Plan.tweets_per_user:
        name += f"_t{tweets_per_user:g}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(
        asyncpg_dsn(
            make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
        )
    )
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and await _complete(url):
            await asyncio.to_thread(migrate, url)  # a dataset seeded before a new migration
            return url
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(migrate, url)
    plan = Plan(users=users, seed=seed_value, tweets_per_user=tweets_per_user)
    await seed(url, plan, progress=progress)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(f"CREATE TABLE {_MARKER} (users int)")
    finally:
        await connection.close()
    return url


async def _complete(url: str) -> bool:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return bool(await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", _MARKER))
    finally:
        await connection.close()


async def forget_writes(url: str, since_id: int) -> None:
    """Removes what a write benchmark added after `since_id`, counters included."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with connection.transaction():
            authors = await connection.fetch(
                "DELETE FROM tweets WHERE id > $1 RETURNING author_id", since_id
            )
            await connection.execute("DELETE FROM outbox")  # no worker runs in the benchmark
            await connection.execute(
                "UPDATE users u SET tweet_count = (SELECT count(*) FROM tweets t "
                "WHERE t.author_id = u.id AND t.retweet_of_id IS NULL) WHERE u.id = ANY($1)",
                list({row["author_id"] for row in authors}),
            )
    finally:
        await connection.close()


async def newest_tweet(url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM tweets"))
    finally:
        await connection.close()


async def viewer_following(url: str, count: int) -> tuple[int, str]:
    """A viewer (made once) following the most-followed account and `count - 1` others."""
    handle = f"bench_f{count}"
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        found = await connection.fetchval("SELECT id FROM users WHERE handle = $1", handle)
        if found is not None:
            return int(found), handle
        async with connection.transaction():
            viewer = int(await connection.fetchval("SELECT max(id) + 1 FROM users"))
            await connection.execute(
                "INSERT INTO users (id, handle, display_name, password_hash, created_at) "
                "VALUES ($1, $2, $3, '-', now())",
                viewer,
                handle,
                handle,
            )
            top = await connection.fetchval(
                "SELECT id FROM users WHERE id <> $1 ORDER BY follower_count DESC LIMIT 1", viewer
            )
            others = await connection.fetch(
                "SELECT id FROM users WHERE id NOT IN ($1, $2) ORDER BY id LIMIT $3",
                viewer,
                top,
                count - 1,
            )
            ids = [top, *(row["id"] for row in others)]
            first_follow = int(await connection.fetchval("SELECT max(id) + 1 FROM follows"))
            await connection.executemany(
                "INSERT INTO follows (id, follower_id, followee_id, created_at) "
                "VALUES ($1, $2, $3, now())",
                [(first_follow + n, viewer, followee) for n, followee in enumerate(ids)],
            )
            await connection.execute(
                "UPDATE users SET follower_count = follower_count + 1 WHERE id = ANY($1)", ids
            )
            await connection.execute(
                "UPDATE users SET following_count = $2 WHERE id = $1", viewer, len(ids)
            )
    finally:
        await connection.close()
    return viewer, handle
