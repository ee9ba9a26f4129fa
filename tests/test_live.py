"""The live streams (services/live.py) under what reorders or interrupts them: commits out of
id order, subscribers that resume again and again, PostgreSQL briefly out of reach."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url
from starlette.applications import Starlette

from app import create_app
from core.config import Settings
from core.ids import expect_global_id, to_global_id
from services import live, notifications, tweets
from services.stores import Stores
from services.work import Work, unit_of_work
from tests.conftest import serving
from tests.graphql import Account, post, register
from tests.proxy import TcpProxy
from tests.test_realtime import HOME, follow, ids, newest_cursor, reader_and_writer, received
from tests.ws import Socket

NOTIFIED = """subscription($since: String) { notifications(since: $since) {
  cursor node { kind actor { handle } } } }"""
TEXTS = "subscription($since: String) { homeTimeline(since: $since) { cursor node { id text } } }"
Write = Callable[[Work], Awaitable[Any]]


async def commit_out_of_order(
    stores: Stores, first: Write, second: Write, between: Callable[[], Awaitable[None]]
) -> tuple[Any, Any]:
    """Runs `first` and `second` in two transactions, in that order (so the first mints the
    lower ids); commits the second, runs `between`, then commits the first. What each
    returned. (Two tweets of one author cannot: the author's row is locked until the first
    commits.)"""
    async with unit_of_work(stores) as lower:
        one = await first(lower)
        async with unit_of_work(stores) as higher:
            two = await second(higher)
        await between()
    return one, two


def posting(author: Account, text: str) -> Write:
    """A write that posts a tweet: its id."""
    author_id = expect_global_id(author.id, "User")

    async def write(work: Work) -> int:
        return (await tweets.post_tweet(work, author_id=author_id, text=text, limiter=None)).id

    return write


def following(follower: Account, followee: Account) -> Write:
    """The FOLLOW notification of a follow already made."""
    follower_id, followee_id = (expect_global_id(a.id, "User") for a in (follower, followee))
    return lambda work: notifications.for_follow(
        work, follower_id=follower_id, followee_id=followee_id
    )


def tweet_ids(*raw: int) -> list[str]:
    return [to_global_id("Tweet", tweet_id) for tweet_id in raw]


@pytest.fixture
def stores(app: Starlette) -> Stores:
    found: Stores = app.state.stores
    return found


async def test_resuming_between_commits_out_of_id_order_sends_each_once(
    client: httpx.AsyncClient, live_server: str, stores: Stores
) -> None:
    reader, writer, since = await reader_and_writer(client)
    other = await register(client)
    await follow(client, reader, other)
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    resume: list[str] = []

    async def disconnect() -> None:  # the second is committed, the first is not yet
        [edge] = await received(socket, 1)
        resume.append(edge["cursor"])
        await socket.close()

    first, second = await commit_out_of_order(
        stores, posting(writer, "minted first"), posting(other, "minted second"), disconnect
    )
    assert first < second
    again = await Socket.open(live_server, reader.token)
    await again.subscribe(HOME, {"since": resume[0]})
    later = await post(client, writer, "later")
    assert ids(await received(again, 2)) == [*tweet_ids(first), later]
    assert await again.silent(0.5)
    await again.close()
    fresh = await Socket.open(live_server, reader.token)  # from before both: as they committed
    await fresh.subscribe(HOME, {"since": since})
    assert ids(await received(fresh, 3)) == [*tweet_ids(second, first), later]
    assert await fresh.silent(0.5)
    await fresh.close()


async def test_notifications_resume_between_commits_out_of_id_order(
    client: httpx.AsyncClient, live_server: str, stores: Stores
) -> None:
    ann, bob, cat = await register(client), await register(client), await register(client)
    for fan in (bob, cat):
        await follow(client, fan, ann)
    socket = await Socket.open(live_server, ann.token)
    await socket.subscribe(NOTIFIED)
    await asyncio.sleep(0.3)  # registered: what commits now goes to it live
    resume: list[str] = []

    async def disconnect() -> None:
        edge = (await socket.next())["data"]["notifications"]
        assert edge["node"]["actor"]["handle"] == cat.handle
        resume.append(edge["cursor"])
        await socket.close()

    await commit_out_of_order(stores, following(bob, ann), following(cat, ann), disconnect)
    again = await Socket.open(live_server, ann.token)
    await again.subscribe(NOTIFIED, {"since": resume[0]})
    edge = (await again.next())["data"]["notifications"]
    assert (edge["node"]["kind"], edge["node"]["actor"]["handle"]) == ("FOLLOW", bob.handle)
    assert await again.silent(0.5)
    await again.close()


async def test_a_query_cursor_as_since_misses_what_committed_after_it_with_a_lower_id(
    client: httpx.AsyncClient, live_server: str, stores: Stores
) -> None:
    reader, writer, other = [await register(client) for _ in range(3)]
    for author in (writer, other):
        await follow(client, reader, author)
    newest: list[str] = []

    async def read_the_query() -> None:  # it shows the second: the first is not committed
        newest.append(await newest_cursor(client, reader))

    first, _ = await commit_out_of_order(
        stores, posting(writer, "minted first"), posting(other, "minted second"), read_the_query
    )
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": newest[0]})
    assert ids(await received(socket, 1)) == tweet_ids(first)
    assert await socket.silent(0.5)
    await socket.close()


async def test_sockets_resuming_again_and_again_get_every_entry_once(
    client: httpx.AsyncClient, live_server: str, stores: Stores
) -> None:
    """Writers commit pairs out of id order while each reader's socket takes one to three
    events, closes and resumes from the last cursor it got; what each got in all is every
    tweet, once."""
    rng = random.Random(17)
    writers = [await register(client) for _ in range(6)]  # in pairs: one pair a task
    readers = [await register(client) for _ in range(3)]
    for reader in readers:
        for writer in writers:
            await follow(client, reader, writer)
    await post(client, writers[0], "start")
    starts = [await newest_cursor(client, reader) for reader in readers]
    posted: list[int] = []

    async def write(writer: Account, next_one: Account) -> None:
        for n in range(4):
            pause = partial(asyncio.sleep, rng.random() / 50)
            pair = await commit_out_of_order(
                stores, posting(writer, f"first {n}"), posting(next_one, f"second {n}"), pause
            )
            posted.extend(pair)

    async def resume_repeatedly(reader: Account, since: str) -> list[str]:
        got: list[str] = []
        while True:
            socket = await Socket.open(live_server, reader.token)
            await socket.subscribe(TEXTS, {"since": since})
            for _ in range(rng.randint(1, 3)):
                [edge] = await received(socket, 1)
                if edge["node"]["text"] == "end":  # committed last: all came before it
                    await socket.close()
                    return got
                got.append(edge["node"]["id"])
                since = edge["cursor"]
            await socket.close()

    listening = [
        asyncio.create_task(resume_repeatedly(reader, since))
        for reader, since in zip(readers, starts, strict=True)
    ]
    await asyncio.gather(*(write(*writers[n : n + 2]) for n in range(0, 6, 2)))
    await post(client, writers[1], "end")
    for got in await asyncio.gather(*listening):
        assert len(got) == len(set(got)) == len(posted)
        assert set(got) == set(tweet_ids(*posted))


@pytest.fixture
def proxied(settings: Settings) -> Iterator[tuple[str, TcpProxy]]:
    """An API process whose PostgreSQL is behind a proxy that the test cuts: its base URL."""
    database = make_url(settings.database_url or "")
    port = database.port or 5432
    directory = database.query.get("host")  # the embedded server's: a unix socket
    target = f"{directory}/.s.PGSQL.{port}" if isinstance(directory, str) else None
    with TcpProxy(target or (database.host or "127.0.0.1", port)) as proxy:
        through = database.difference_update_query(["host"]).set(host="127.0.0.1", port=proxy.port)
        url = through.render_as_string(hide_password=False)
        proxied_settings = replace(settings, database_url=url)
        with serving(create_app(proxied_settings), proxied_settings) as served:
            yield served, proxy


async def test_live_events_wait_out_a_database_outage(
    client: httpx.AsyncClient, proxied: tuple[str, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    """The subscriber's process cannot read PostgreSQL for a while: once it can, the subscriber
    gets what was committed meanwhile, in order; nothing is dropped in silence."""
    served, proxy = proxied
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(served, reader.token)
    await socket.subscribe(HOME, {"since": since})
    before = await post(client, writer, "before the outage")
    assert ids(await received(socket, 1)) == [before]
    caplog.set_level(logging.WARNING, logger="chirp.live")
    proxy.cut()
    during = [await post(client, writer, f"during the outage {i}") for i in range(3)]
    deadline = time.monotonic() + 20
    while not any(record.name == "chirp.live" for record in caplog.records):
        assert time.monotonic() < deadline, "the hub did not try to read meanwhile"
        await asyncio.sleep(0.05)
    proxy.restore()
    assert ids(await received(socket, 3)) == during
    after = await post(client, writer, "after the outage")
    assert ids(await received(socket, 1)) == [after]
    await socket.close()


async def test_a_long_database_outage_closes_the_feeds_to_resume_with_since(
    client: httpx.AsyncClient,
    proxied: tuple[str, TcpProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past OUTAGE_SECONDS the subscriber is told (4413), and resumes with `since`."""
    monkeypatch.setattr(live, "OUTAGE_SECONDS", 0.5)
    served, proxy = proxied
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(served, reader.token)
    await socket.subscribe(HOME, {"since": since})
    before = await post(client, writer, "before the outage")
    [edge] = await received(socket, 1)
    assert edge["node"]["id"] == before
    proxy.cut()
    during = await post(client, writer, "during the outage")
    assert await socket.closed_with() == 4413
    proxy.restore()
    again = await Socket.open(served, reader.token)
    await again.subscribe(HOME, {"since": edge["cursor"]})
    assert ids(await received(again, 1)) == [during]
    await again.close()
