"""`make reindex`: rebuilds the search index from the database.

With SEARCH_URL set, every user and tweet goes to Meilisearch in batches, behind a progress bar.
Stopped (Ctrl-C), it continues where it stopped when run again: a checkpoint under DATA_DIR
keeps the last id Meilisearch has applied, per table, for the server it was made for; a run
that completes removes it, and `--restart` ignores it. Documents are replaced whole, so the
batch in flight when it stopped, sent again, does no harm.

With no SEARCH_URL there is nothing to rebuild, since PostgreSQL keeps its own index (a column
it generates from the text): it says so and counts the trending hashtags again from the
database instead, which fills in what Redis lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from meilisearch_python_sdk.errors import MeilisearchError
from sqlalchemy.ext.asyncio import AsyncConnection
from tqdm import tqdm

from core import redis_clients
from core.config import Settings
from core.db import Database
from core.embedded import resolve_backends
from services import search_index, trends
from services.meili import TWEET_INDEX, USER_INDEX, Document, Meili

BATCH = 1_000
CHECKPOINT = "reindex-checkpoint.json"


class Sink(Protocol):
    """Where documents go: Meilisearch (services/meili.py)."""

    async def put(self, index: str, documents: list[Document]) -> int | None: ...

    async def wait(self, task: int) -> None: ...


@dataclass(frozen=True)
class Table:
    name: str
    index: str
    read: Callable[..., Awaitable[list[Document]]]  # (connection, *, after, limit)
    count: Callable[..., Awaitable[int]]  # (connection, *, after)


TABLES = (
    Table("users", USER_INDEX, search_index.users_after, search_index.count_users),
    Table("tweets", TWEET_INDEX, search_index.tweets_after, search_index.count_tweets),
)


class Checkpoint:
    """The last id done per table, in a file, valid only for the index it was made for."""

    def __init__(self, path: Path, *, target: str) -> None:
        self.path = path
        self.target = target
        self._done = self._load()

    def _load(self) -> dict[str, int]:
        try:
            saved = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(saved, dict) or saved.get("target") != self.target:
            return {}
        return {table: int(last) for table, last in saved.get("done", {}).items()}

    def last(self, table: str) -> int:
        return self._done.get(table, 0)

    def save(self, table: str, last_id: int) -> None:
        self._done[table] = last_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"target": self.target, "done": self._done}))
        tmp.replace(self.path)  # whole or not at all, should it stop right here

    def clear(self) -> None:
        self._done = {}
        self.path.unlink(missing_ok=True)


async def copy(
    connection: AsyncConnection,
    sink: Sink,
    table: Table,
    checkpoint: Checkpoint,
    *,
    batch: int = BATCH,
    progress: bool = True,
) -> int:
    """Sends the table's rows after the checkpoint; returns how many. The checkpoint moves
    past a batch once the sink has applied it, while the next batch is on its way."""
    last = checkpoint.last(table.name)
    in_flight: tuple[int | None, int] | None = None  # (task, last id) sent, not yet applied
    copied = 0
    total = await table.count(connection, after=last)
    with tqdm(total=total, desc=table.name, unit=" rows", disable=not progress) as bar:
        while documents := await table.read(connection, after=last, limit=batch):
            task = await sink.put(table.index, documents)
            if in_flight is not None:
                await _applied(sink, checkpoint, table, *in_flight)
            last = int(documents[-1]["id"])
            in_flight = (task, last)
            copied += len(documents)
            bar.update(len(documents))
        if in_flight is not None:
            await _applied(sink, checkpoint, table, *in_flight)
    return copied


async def _applied(
    sink: Sink, checkpoint: Checkpoint, table: Table, task: int | None, last_id: int
) -> None:
    if task is not None:
        await sink.wait(task)
    checkpoint.save(table.name, last_id)


async def reindex(
    settings: Settings, *, restart: bool = False, batch: int = BATCH, progress: bool = True
) -> str:
    """Rebuilds the index (or, on PostgreSQL, the trends); returns what it did."""
    db = Database.connect(settings.database_url or "", pool_size=2)
    try:
        if not settings.search_url:
            return await _recount_trends(db, settings)
        meili = Meili.connect(settings)
        checkpoint = Checkpoint(settings.data_dir / CHECKPOINT, target=settings.search_url)
        if restart:
            checkpoint.clear()
        try:
            await meili.ready()
            done: dict[str, tuple[int, float]] = {}
            async with db.read() as connection:
                for table in TABLES:
                    started = time.perf_counter()
                    count = await copy(
                        connection, meili, table, checkpoint, batch=batch, progress=progress
                    )
                    done[table.name] = count, time.perf_counter() - started
        finally:
            await meili.close()
        checkpoint.clear()
    finally:
        await db.dispose()
    (users, _), (tweets, seconds) = done["users"], done["tweets"]
    return (
        f"indexed {users:,} users and {tweets:,} tweets in Meilisearch; "
        f"the tweets in {seconds:.1f} s, {tweets / max(seconds, 1e-9):,.0f} tweets/s"
    )


async def _recount_trends(db: Database, settings: Settings) -> str:
    redis = redis_clients.connect(
        settings.redis_url or "", timeout=redis_clients.BACKGROUND_TIMEOUT_SECONDS
    )
    try:
        if not await trends.rebuild(db, redis, settings.trend_window_hours):
            return "Another process is counting the trending hashtags again; left to it."
    finally:
        await redis.aclose()
    return (
        "SEARCH_URL is unset: PostgreSQL keeps its own search index, nothing to rebuild. "
        f"Counted the trending hashtags of the last {settings.trend_window_hours} h again "
        "from the database."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--restart", action="store_true", help="start over, not from the checkpoint"
    )
    parser.add_argument("--batch", type=int, default=BATCH, help="rows per request")
    args = parser.parse_args()
    servers = resolve_backends(Settings.from_env().data_dir)  # as `make run` does
    try:
        print(asyncio.run(reindex(Settings.from_env(), restart=args.restart, batch=args.batch)))
    except KeyboardInterrupt:
        print(
            "stopped; `make reindex` continues from here, `--restart` starts over", file=sys.stderr
        )
        raise SystemExit(130) from None
    except MeilisearchError as error:
        print(f"Meilisearch at SEARCH_URL failed: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if servers is not None:
            servers.stop()


if __name__ == "__main__":
    main()
