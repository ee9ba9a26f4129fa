"""`make seed`'s generator: deterministic, consistent counters, a realistic shape."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from bench.seed import asyncpg_dsn, seed
from bench.seedgen import Generator, Plan
from tests.conftest import Backend
from tests.graphql import ok


def _rows(plan: Plan) -> list[object]:
    generator = Generator(plan)
    rows: list[object] = []
    for chunk in generator.users("hash"):
        rows += chunk
    for chunk in generator.follows():
        rows += chunk
    for tweets, likes in generator.tweets_and_likes():
        rows += tweets + likes
    return rows


def test_the_same_seed_gives_the_same_rows() -> None:
    plan = Plan(users=120, seed=7, handle_prefix="d")
    assert _rows(plan) == _rows(plan)
    assert _rows(plan) != _rows(Plan(users=120, seed=8, handle_prefix="d"))


async def test_seeded_data_is_consistent(backend: Backend, client: httpx.AsyncClient) -> None:
    prefix = f"s{uuid.uuid4().hex[:6]}"
    users = 300
    await seed(backend.database_url, Plan(users=users, handle_prefix=prefix), progress=False)
    connection = await asyncpg.connect(asyncpg_dsn(backend.database_url))
    try:
        mine = f"(SELECT id FROM users WHERE handle LIKE '{prefix}%')"
        assert await connection.fetchval(f"SELECT count(*) FROM {mine} m") == users
        wrong_counts = await connection.fetchval(f"""
            SELECT count(*) FROM users u WHERE u.id IN {mine} AND (
              u.follower_count != (SELECT count(*) FROM follows WHERE followee_id = u.id) OR
              u.following_count != (SELECT count(*) FROM follows WHERE follower_id = u.id) OR
              u.tweet_count != (SELECT count(*) FROM tweets
                                WHERE author_id = u.id AND retweet_of_id IS NULL))""")
        assert wrong_counts == 0
        wrong_tweets = await connection.fetchval(f"""
            SELECT count(*) FROM tweets t WHERE t.author_id IN {mine} AND (
              t.like_count != (SELECT count(*) FROM likes WHERE tweet_id = t.id) OR
              t.retweet_count != (SELECT count(*) FROM tweets r WHERE r.retweet_of_id = t.id) OR
              t.reply_count != (SELECT count(*) FROM tweets r WHERE r.reply_to_id = t.id))""")
        assert wrong_tweets == 0
        unplaced = f"SELECT count(*) FROM tweets WHERE author_id IN {mine} AND position IS DISTINCT FROM id"
        assert await connection.fetchval(unplaced) == 0  # their own ids, not the trigger's
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM follows WHERE follower_id = followee_id"
            )
            == 0
        )
        top = await connection.fetchval(f"SELECT max(follower_count) FROM users WHERE id IN {mine}")
        assert top >= users // 10
        kinds = await connection.fetchrow(f"""
            SELECT count(*) FILTER (WHERE retweet_of_id IS NOT NULL) AS retweets,
                   count(*) FILTER (WHERE reply_to_id IS NOT NULL) AS replies,
                   count(*) FILTER (WHERE cardinality(hashtags) > 0) AS tagged,
                   count(*) AS total
            FROM tweets WHERE author_id IN {mine}""")
        assert 0.05 < kinds["retweets"] / kinds["total"] < 0.15
        assert 0.1 < kinds["replies"] / kinds["total"] < 0.3
        assert kinds["tagged"] > 0
        handles = await connection.fetch(
            f"SELECT handle FROM users WHERE handle LIKE '{prefix}%' LIMIT 1"
        )
    finally:
        await connection.close()
    login = 'mutation($h: String!) { login(input: {handle: $h, password: "password123"}) { user { tweetCount } } }'
    data = await ok(client, login, {"h": handles[0]["handle"]})
    assert data["login"]["user"]["tweetCount"] >= 0
