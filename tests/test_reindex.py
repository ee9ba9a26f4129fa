"""`make reindex` (services/reindex.py): its checkpoint and resuming after a stop, on the real
database; with no SEARCH_URL, the trends counted again. Into Meilisearch itself:
tests/test_search_meili.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from starlette.applications import Starlette

from core.config import Settings
from core.db import Database
from core.ids import expect_global_id
from services import reindex, trends
from services.meili import Document, split_id
from tests.graphql import post, register
from tests.test_search import made_up, rebuilt, trend_counts

Settle = Callable[[], Awaitable[int]]
TWEETS = reindex.TABLES[1]


class Stopped(Exception):
    """Ctrl-C, in a test (a real KeyboardInterrupt would stop the event loop)."""


class Recorder:
    """A sink that keeps what it is sent, and stops on the put numbered `stop_at`."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.puts: list[list[Document]] = []
        self.waited: list[int] = []
        self.stop_at = stop_at

    async def put(self, index: str, documents: list[Document]) -> int | None:
        assert index == "tweets"
        if len(self.puts) + 1 == self.stop_at:
            raise Stopped
        self.puts.append(documents)
        return len(self.puts)

    async def wait(self, task: int) -> None:
        self.waited.append(task)

    def ids(self) -> list[list[int]]:
        return [[int(document["id"]) for document in batch] for batch in self.puts]


def test_a_checkpoint_is_for_one_index_and_survives_the_process(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    checkpoint = reindex.Checkpoint(path, target="http://one")
    assert checkpoint.last("tweets") == 0
    checkpoint.save("tweets", 42)
    checkpoint.save("users", 7)
    assert reindex.Checkpoint(path, target="http://one").last("tweets") == 42
    assert reindex.Checkpoint(path, target="http://two").last("tweets") == 0  # another server
    reindex.Checkpoint(path, target="http://one").clear()
    assert not path.exists()
    path.write_text("{not json")
    assert reindex.Checkpoint(path, target="http://one").last("users") == 0


async def test_a_stopped_copy_continues_where_it_stopped(
    client: httpx.AsyncClient, db: Database, tmp_path: Path
) -> None:
    author, word = await register(client), made_up()
    posted = [
        expect_global_id(await post(client, author, f"{word} #{word} {n}"), "Tweet")
        for n in range(5)
    ]
    path = tmp_path / "checkpoint.json"
    reindex.Checkpoint(path, target="t").save("tweets", posted[0] - 1)  # older tweets: done
    stopped = Recorder(stop_at=3)
    async with db.read() as connection:
        try:
            await reindex.copy(
                connection,
                stopped,
                TWEETS,
                reindex.Checkpoint(path, target="t"),
                batch=2,
                progress=False,
            )
        except Stopped:
            pass
        else:
            raise AssertionError("the copy should have stopped")
        assert stopped.ids() == [posted[:2], posted[2:4]]
        assert stopped.waited == [1]  # the second batch was on its way, not yet applied
        assert reindex.Checkpoint(path, target="t").last("tweets") == posted[1]
        resumed = Recorder()
        copied = await reindex.copy(
            connection,
            resumed,
            TWEETS,
            reindex.Checkpoint(path, target="t"),
            batch=2,
            progress=False,
        )
    assert copied == 3
    assert resumed.ids() == [posted[2:4], posted[4:]]  # the unapplied batch again, then on
    assert resumed.waited == [1, 2]
    assert reindex.Checkpoint(path, target="t").last("tweets") == posted[4]
    document = resumed.puts[-1][0]
    assert document["text"] == f"{word} #{word} 4" and document["hashtags"] == [word]
    assert (document["id_high"], document["id_low"]) == split_id(posted[4])
    assert document["author_id"] == str(expect_global_id(author.id, "User"))


async def test_without_search_url_it_counts_the_trends_again(
    client: httpx.AsyncClient, settle: Settle, settings: Settings, app: Starlette
) -> None:
    author, tag = await register(client), made_up()
    tweet = expect_global_id(await post(client, author, f"#{tag} trending"), "Tweet")
    await settle()
    redis = app.state.redis

    async def forget_summed_window() -> None:
        top = [key async for key in redis.scan_iter("{trend}:top:*")]
        if top:
            await redis.delete(*top)  # the summed window is reused for a few seconds

    async def counted() -> int:
        await forget_summed_window()
        return (await trend_counts(client, [tag]))[tag]

    await trend_counts(client, [tag])  # the trends are built (in the background when not yet)
    assert await rebuilt(redis)  # no count of the window is running below
    assert await counted() == 1
    await trends.uncount(redis, [tweet])  # as if Redis had lost it
    assert await counted() == 0
    said = await reindex.reindex(settings, progress=False)
    assert "PostgreSQL keeps its own search index" in said
    assert await counted() == 1
    assert not (settings.data_dir / reindex.CHECKPOINT).exists()
    await forget_summed_window()  # no stale sum for the next test
