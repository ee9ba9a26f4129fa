"""`make seed`: a realistic social graph, bulk-loaded with COPY, deterministic for a seed.

    .venv/bin/python -m bench.seed --users 10000 [--seed 1] [--database-url URL] [--reset]

- Users `user0000001`...: every seeded account's password is `password123` (one argon2id hash,
  computed once), so benchmarks can sign in as anyone.
- Follows: out-degrees log-normal (most users follow 50 to 500 accounts), targets drawn from a
  Zipf-like popularity, so a handful of accounts are followed by 10% or more of all users.
- Tweets over the last four weeks: skewed activity, #hashtags (Zipf over 500 tags), @mentions,
  20% replies, 10% retweets; likes per tweet heavy-tailed. Ids are Snowflakes minted from each
  row's timestamp, so time order and id order agree, as in the service.
- Counters (followers, following, tweets, likes, retweets, replies) are recomputed in SQL
  at the end.
Generation streams in chunks, so memory stays bounded at 1,000,000 users.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import asyncpg
from sqlalchemy import make_url
from tqdm import tqdm

from bench.seedgen import CHUNK, Generator, Plan, Row
from core.embedded import EmbeddedServers
from core.security import _hasher
from serve import migrate

PASSWORD = "password123"

USER_COLUMNS = ["id", "handle", "display_name", "bio", "password_hash", "created_at"]
FOLLOW_COLUMNS = ["follower_id", "followee_id", "id", "created_at"]
TWEET_COLUMNS = [
    "id",
    "author_id",
    "text",
    "created_at",
    "reply_to_id",
    "retweet_of_id",
    "hashtags",
    "mentions",
]
LIKE_COLUMNS = ["user_id", "tweet_id", "id", "created_at"]
COUNTERS = [
    """UPDATE users u SET follower_count = c.n FROM
       (SELECT followee_id AS id, count(*) AS n FROM follows GROUP BY 1) c WHERE u.id = c.id""",
    """UPDATE users u SET following_count = c.n FROM
       (SELECT follower_id AS id, count(*) AS n FROM follows GROUP BY 1) c WHERE u.id = c.id""",
    """UPDATE users u SET tweet_count = c.n FROM
       (SELECT author_id AS id, count(*) AS n FROM tweets WHERE retweet_of_id IS NULL GROUP BY 1) c
       WHERE u.id = c.id""",
    """UPDATE tweets t SET like_count = c.n FROM
       (SELECT tweet_id AS id, count(*) AS n FROM likes GROUP BY 1) c WHERE t.id = c.id""",
    """UPDATE tweets t SET retweet_count = c.n FROM
       (SELECT retweet_of_id AS id, count(*) AS n FROM tweets
        WHERE retweet_of_id IS NOT NULL GROUP BY 1) c WHERE t.id = c.id""",
    """UPDATE tweets t SET reply_count = c.n FROM
       (SELECT reply_to_id AS id, count(*) AS n FROM tweets
        WHERE reply_to_id IS NOT NULL GROUP BY 1) c WHERE t.id = c.id""",
]


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class _Meter:
    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def add(self, table: str, rows: int, seconds: float) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows
        self.seconds[table] = self.seconds.get(table, 0.0) + seconds

    def report(self) -> str:
        lines = [
            f"  {table:8} {rows:>11,} rows  {rows / max(self.seconds[table], 1e-9):>10,.0f} rows/s"
            for table, rows in self.rows.items()
        ]
        total, seconds = sum(self.rows.values()), sum(self.seconds.values())
        lines.append(
            f"  {'total':8} {total:>11,} rows  {total / max(seconds, 1e-9):>10,.0f} rows/s"
        )
        return "\n".join(lines)


async def _copy(
    connection: asyncpg.Connection, meter: _Meter, table: str, rows: list[Row], columns: list[str]
) -> None:
    started = time.perf_counter()
    await connection.copy_records_to_table(table, records=rows, columns=columns)
    meter.add(table, len(rows), time.perf_counter() - started)


_SECONDARY_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename IN ('follows', 'tweets', 'likes')
  AND indexname NOT IN (SELECT conname FROM pg_constraint)
"""


async def _without_secondary_indexes(connection: asyncpg.Connection) -> list[str]:
    """Drops the tables' secondary indexes for the bulk load; returns how to build them again."""
    rows = await connection.fetch(_SECONDARY_INDEXES)
    for row in rows:
        await connection.execute(f'DROP INDEX "{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


async def seed(
    database_url: str, plan: Plan, *, reset: bool = False, progress: bool = True
) -> _Meter:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    meter = _Meter()
    try:
        if reset:
            await connection.execute(
                "TRUNCATE users, tweets, tweet_versions, follows, likes CASCADE"
            )
        taken = await connection.fetchval(
            "SELECT count(*) FROM users WHERE handle LIKE $1", f"{plan.handle_prefix}%"
        )
        if taken:
            raise SystemExit(
                f"{taken} users named {plan.handle_prefix}* exist already: "
                "use --reset or another --handle-prefix"
            )
        empty = not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM follows)")
        rebuild = await _without_secondary_indexes(connection) if empty else []
        generator = Generator(plan)
        password_hash = _hasher.hash(PASSWORD)
        bar = tqdm(total=plan.users, desc="users", unit="row", disable=not progress)
        for rows in generator.users(password_hash):
            await _copy(connection, meter, "users", rows, USER_COLUMNS)
            bar.update(len(rows))
        bar.close()
        bar = tqdm(
            total=plan.users, desc="follows (by follower)", unit="user", disable=not progress
        )
        for rows in generator.follows():
            await _copy(connection, meter, "follows", rows, FOLLOW_COLUMNS)
            bar.update(max(1, CHUNK // 200))
        bar.close()
        bar = tqdm(total=plan.tweets, desc="tweets and likes", unit="tweet", disable=not progress)
        for tweets, likes in generator.tweets_and_likes():
            # committed long before anyone resumes a subscription: their ids for positions,
            # which spares the commit one trigger a row (services/live.py)
            positioned = [(*row, row[0]) for row in tweets]
            await _copy(connection, meter, "tweets", positioned, [*TWEET_COLUMNS, "position"])
            await _copy(connection, meter, "likes", likes, LIKE_COLUMNS)
            bar.update(len(tweets))
        bar.close()
        started = time.perf_counter()
        for statement in tqdm(
            rebuild + COUNTERS, desc="indexes and counters", disable=not progress
        ):
            await connection.execute(statement)
        await connection.execute("ANALYZE")
        meter.add("finish", 0, time.perf_counter() - started)
    finally:
        await connection.close()
    return meter


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tweets-per-user", type=float, default=15.0)
    parser.add_argument("--likes-per-tweet", type=float, default=5.0)
    parser.add_argument("--handle-prefix", default="user")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--reset", action="store_true", help="empty the tables first")
    args = parser.parse_args()
    plan = Plan(
        users=args.users,
        seed=args.seed,
        tweets_per_user=args.tweets_per_user,
        likes_per_tweet=args.likes_per_tweet,
        handle_prefix=args.handle_prefix,
    )
    servers = None
    if not args.database_url:  # the embedded default, as `make run` would use it
        servers = EmbeddedServers(Path(os.environ.get("DATA_DIR", "./var")))
        servers.start()
        args.database_url = servers.database_url
    try:
        migrate(args.database_url)
        started = time.perf_counter()
        meter = asyncio.run(seed(args.database_url, plan, reset=args.reset))
    finally:
        if servers is not None:
            servers.stop()
    elapsed = time.perf_counter() - started
    rows = sum(meter.rows.values())
    print(
        f"seeded {args.users:,} users, {rows:,} rows in {elapsed:.1f} s "
        f"({rows / elapsed:,.0f} rows/s)"
    )
    print(f"COPY throughput per table:\n{meter.report()}")


if __name__ == "__main__":
    main()
