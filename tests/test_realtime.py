"""Subscriptions over a real WebSocket against the served app: live delivery, resuming with
`since`, sign-in and its expiry, limits, slow subscribers, and two API processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import websockets
from starlette.applications import Starlette

from core.config import Settings
from core.ids import expect_global_id
from core.security import TokenCodec
from schema import shared_events
from services import live, tweets
from services.work import unit_of_work
from tests.conftest import ROOT
from tests.graphql import Account, ok, post, register
from tests.test_social import FOLLOW, RETWEET
from tests.ws import LEGACY_WS, TRANSPORT_WS, Socket
from web import websocket

HOME = "subscription($since: String) { homeTimeline(since: $since) { cursor node { id } } }"
UPDATED = "subscription($id: ID!) { tweetUpdated(id: $id) { id text likeCount } }"
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
EDIT = "mutation($id: ID!, $t: String!) { editTweet(input: {id: $id, text: $t}) { id } }"
NEWEST = "{ homeTimeline(first: 1) { edges { cursor } } }"


async def follow(client: httpx.AsyncClient, who: Account, whom: Account) -> None:
    await ok(client, FOLLOW, {"id": whom.id}, token=who.token)


async def newest_cursor(client: httpx.AsyncClient, account: Account) -> str:
    edges = (await ok(client, NEWEST, token=account.token))["homeTimeline"]["edges"]
    cursor: str = edges[0]["cursor"]
    return cursor


async def newest_id(client: httpx.AsyncClient, account: Account) -> str:
    query = "{ homeTimeline(first: 1) { edges { node { id } } } }"
    edges = (await ok(client, query, token=account.token))["homeTimeline"]["edges"]
    found: str = edges[0]["node"]["id"]
    return found


async def reader_and_writer(client: httpx.AsyncClient) -> tuple[Account, Account, str]:
    """A reader following a writer who has posted once, and the cursor of that tweet."""
    reader, writer = await register(client), await register(client)
    await follow(client, reader, writer)
    await post(client, writer, "before")
    return reader, writer, await newest_cursor(client, reader)


async def received(socket: Socket, count: int) -> list[dict[str, Any]]:
    """The next `count` home timeline edges."""
    edges = []
    for _ in range(count):
        payload = await socket.next()
        assert "errors" not in payload, payload
        edges.append(payload["data"]["homeTimeline"])
    return edges


def ids(edges: list[dict[str, Any]]) -> list[str]:
    return [edge["node"]["id"] for edge in edges]


async def test_home_timeline_is_live_and_resumes_with_nothing_missed(
    client: httpx.AsyncClient, live_server: str
) -> None:
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    first = await post(client, writer, "live")
    [edge] = await received(socket, 1)
    assert edge["node"]["id"] == first
    await socket.close()

    missed = [await post(client, writer, f"while away {i}") for i in range(3)]
    missed.append(await post(client, reader, "my own"))
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": edge["cursor"]})
    assert ids(await received(socket, 4)) == missed  # oldest first
    later = await post(client, writer, "live again")
    assert ids(await received(socket, 1)) == [later]
    assert await socket.silent(0.5)
    await socket.close()


async def test_resuming_while_posting_neither_misses_nor_repeats(
    client: httpx.AsyncClient, live_server: str
) -> None:
    reader, writer, since = await reader_and_writer(client)
    posted: list[str] = []

    async def keep_posting() -> None:
        for i in range(30):
            posted.append(await post(client, writer, f"burst {i}"))

    poster = asyncio.create_task(keep_posting())
    await asyncio.sleep(0.05)  # some before the subscription starts, some during its replay
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    await poster
    got = ids(await received(socket, len(posted)))
    assert sorted(got) == sorted(posted)
    assert await socket.silent(0.5)  # and nothing twice
    await socket.close()


async def test_what_came_before_since_is_not_sent_again_when_announced_late(
    client: httpx.AsyncClient, live_server: str, app: Starlette
) -> None:
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    await asyncio.sleep(0.2)  # subscribed: the fan-out job of "before" says it again only now
    before = expect_global_id(await newest_id(client, reader), "Tweet")
    author = expect_global_id(writer.id, "User")
    event: live.Event = {"topic": live.TWEET, "tweet": before, "author": author}
    await live.publish(app.state.redis, [event])
    later = await post(client, writer, "after")
    assert ids(await received(socket, 1)) == [later]
    assert await socket.silent(0.5)
    await socket.close()


async def test_big_accounts_are_delivered_and_deleted_tweets_are_not(
    client: httpx.AsyncClient, live_server: str
) -> None:
    reader, star, since = await reader_and_writer(client)
    for _ in range(4):  # above the hybrid threshold of the tests (3): merged at read time
        await follow(client, await register(client), star)
    gone = await post(client, star, "soon deleted")
    await ok(client, DELETE, {"id": gone}, token=star.token)
    kept = await post(client, star, "kept")
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    assert ids(await received(socket, 1)) == [kept]
    live_one = await post(client, star, "live from a big account")
    assert ids(await received(socket, 1)) == [live_one]
    await socket.close()


async def test_subscribers_share_an_answer_only_when_it_is_the_same(
    client: httpx.AsyncClient, live_server: str
) -> None:
    """The rows of a new tweet are read once and one execution serves many subscribers; each
    still sees its own flags."""
    fan, other, writer = await register(client), await register(client), await register(client)
    for reader in (fan, other):
        await follow(client, reader, writer)
    original = await post(client, writer, "original")
    await ok(client, LIKE, {"id": original}, token=fan.token)
    query = """subscription($since: String) { homeTimeline(since: $since) {
      node { id viewerHasLiked retweetOf { id likeCount viewerHasLiked } } } }"""
    sockets = []
    for reader in (fan, other):
        socket = await Socket.open(live_server, reader.token)
        await socket.subscribe(query, {"since": await newest_cursor(client, reader)})
        sockets.append(socket)
    await asyncio.sleep(0.3)  # both registered: the retweet goes to both live
    await ok(client, RETWEET, {"id": original}, token=writer.token)
    seen = [(await socket.next())["data"]["homeTimeline"]["node"] for socket in sockets]
    assert [node["retweetOf"]["viewerHasLiked"] for node in seen] == [True, False]
    assert {node["retweetOf"]["likeCount"] for node in seen} == {1}
    retweet = expect_global_id(seen[0]["id"], "Tweet")
    answers = [share for _, share in shared_events._shared if share[1] == retweet]
    assert len(answers) == 2  # executed once per distinct answer: the two flags differ
    for socket in sockets:
        await socket.close()


async def test_a_shared_answer_goes_out_as_encoded_once_and_reads_the_same(
    client: httpx.AsyncClient, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One subscriber executes a new tweet's answer; the others of the same document get it
    as it was encoded, each under its own operation id, reading exactly as the usual way
    sends it. The legacy protocol takes the usual way."""
    writer = await register(client)
    readers = [await register(client) for _ in range(4)]
    for reader in readers:
        await follow(client, reader, writer)
    direct: list[bool] = []
    send_shared = websocket._Connection.send_shared

    async def spy(self: websocket._Connection, data: object) -> bool:
        direct.append(await send_shared(self, data))
        return direct[-1]

    monkeypatch.setattr(websocket._Connection, "send_shared", spy)
    query = """subscription { homeTimeline { cursor node { id text likeCount viewerHasLiked
      author { handle displayName } } } }"""
    sockets, operations = [], []
    for n, reader in enumerate(readers):
        protocol = LEGACY_WS if n == 0 else TRANSPORT_WS
        socket = await Socket.open(live_server, reader.token, protocol=protocol)
        operations.append(await socket.subscribe(query))
        sockets.append(socket)
    await asyncio.sleep(0.3)  # all registered
    await post(client, writer, "one answer for all")
    messages = [await socket.receive() for socket in sockets]
    assert [message["id"] for message in messages] == operations
    assert [message["type"] for message in messages] == ["data", "next", "next", "next"]
    payloads = [message["payload"] for message in messages]
    assert payloads[0]["data"]["homeTimeline"]["node"]["text"] == "one answer for all"
    assert all(payload == payloads[0] for payload in payloads)
    assert direct.count(True) >= 2  # the executing one, and the legacy socket, go the usual way
    for socket in sockets:
        await socket.close()


async def test_a_gap_older_than_the_replay_is_a_clear_error(
    client: httpx.AsyncClient, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers import live as subscriptions

    monkeypatch.setattr(subscriptions, "REPLAY_MAX", 2)
    reader, writer, since = await reader_and_writer(client)
    for i in range(3):
        await post(client, writer, f"{i}")
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    payload = await socket.next()
    [error] = payload["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "since" in error["message"]
    await socket.close()


async def test_a_bad_token_closes_the_socket_with_4403(live_server: str) -> None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await Socket.open(live_server, "not-a-token")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_the_socket_closes_when_the_token_expires(
    client: httpx.AsyncClient, live_server: str, settings: Settings
) -> None:
    account = await register(client)
    # exp is whole seconds: a 2-second token lives at least 1 s, enough to sign in under load
    short = replace(TokenCodec.from_settings(settings), ttl_seconds=2, leeway_seconds=0).issue(
        expect_global_id(account.id, "User")
    )
    socket = await Socket.open(live_server, short)
    await socket.subscribe(HOME)
    assert await socket.closed_with(wait=5) == 4403


async def test_signed_out_subscriptions_need_sign_in(live_server: str) -> None:
    socket = await Socket.open(live_server)
    await socket.subscribe(HOME)
    [error] = (await socket.next())["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    await socket.close()


async def test_the_legacy_graphql_ws_protocol(client: httpx.AsyncClient, live_server: str) -> None:
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(live_server, reader.token, protocol=LEGACY_WS)
    await socket.subscribe(HOME, {"since": since})
    tweet = await post(client, writer, "old protocol")
    assert ids(await received(socket, 1)) == [tweet]
    await socket.close()


async def test_tweet_updates_are_coalesced_and_current(
    client: httpx.AsyncClient, live_server: str
) -> None:
    author = await register(client)
    fans = [await register(client) for _ in range(12)]
    tweet = await post(client, author, "hot")
    socket = await Socket.open(live_server)  # no sign-in needed
    await socket.subscribe(UPDATED, {"id": tweet})
    await asyncio.sleep(0.3)  # the subscription is registered
    await asyncio.gather(*(ok(client, LIKE, {"id": tweet}, token=fan.token) for fan in fans))
    updates = []
    while not updates or updates[-1]["likeCount"] < len(fans):
        updates.append((await socket.next())["data"]["tweetUpdated"])
    assert len(updates) <= 4  # 12 likes in a burst: a few updates, not 12
    assert await socket.silent(0.6)
    await ok(client, EDIT, {"id": tweet, "t": "edited"}, token=author.token)
    assert (await socket.next())["data"]["tweetUpdated"]["text"] == "edited"
    await socket.close()


async def test_a_subscriber_too_far_behind_is_closed(
    client: httpx.AsyncClient, live_server: str, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "BUFFER", 2)
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    author = expect_global_id(writer.id, "User")
    async with unit_of_work(app.state.stores) as work:  # one commit: read by the hub at once
        for i in range(10):
            await tweets.post_tweet(work, author_id=author, text=f"{i}", limiter=None)
    assert await socket.closed_with() == 4413


async def test_fifty_new_subscribers_get_a_tweet_after_another_resumed_with_since(
    client: httpx.AsyncClient, live_server: str
) -> None:
    """Issue 17 #11: after one subscription resumed with `since` and got its replay, 0 of 50
    new subscribers (without `since`) were said to get the next tweet; 5 to 20 did."""
    reader, writer, since = await reader_and_writer(client)
    missed = await post(client, writer, "while away")
    resumed = await Socket.open(live_server, reader.token)
    await resumed.subscribe(HOME, {"since": since})
    assert ids(await received(resumed, 1)) == [missed]
    fans = [await register(client) for _ in range(50)]
    for fan in fans:
        await follow(client, fan, writer)
    sockets = [await Socket.open(live_server, fan.token) for fan in fans]
    for each in sockets:
        await each.subscribe(HOME)
    await asyncio.sleep(0.5)  # all registered
    tweet = await post(client, writer, "for all")
    assert ids(await received(resumed, 1)) == [tweet]
    for each in sockets:
        assert ids(await received(each, 1)) == [tweet]
        await each.close()
    await resumed.close()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_connection_and_subscription_limits(
    client: httpx.AsyncClient, live_server: str, settings: Settings, protocol: str
) -> None:
    account = await register(client)
    sockets = [
        await Socket.open(live_server, account.token, protocol=protocol)
        for _ in range(settings.ws_connections_per_user)
    ]
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await Socket.open(live_server, account.token, protocol=protocol)
    # its own code: the token is good (a client that signs out on 4403 must not here)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    await sockets.pop().close()
    await asyncio.sleep(0.2)
    sockets.append(await Socket.open(live_server, account.token, protocol=protocol))  # given back
    one = sockets[0]
    for _ in range(settings.ws_subscriptions_per_connection):
        await one.subscribe(HOME)
    await one.subscribe(HOME)
    refused = await one.next()
    [error] = refused.get("errors", [refused])
    assert error["extensions"]["code"] == "RATE_LIMITED" and "at once" in error["message"]
    for each in sockets:
        await each.close()


@pytest.mark.parametrize("replayed", [True, False])
async def test_an_idle_subscription_holds_no_database_connection(
    client: httpx.AsyncClient, live_server: str, live_app: Starlette, replayed: bool
) -> None:
    """Idle after its replay, and idle after a replay of nothing (`since` the newest)."""
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME, {"since": since})
    if replayed:
        await post(client, writer, "one")
        await received(socket, 1)
    else:
        assert await socket.silent(0.5)  # replayed: nothing
    pool = live_app.state.db.engine.pool
    deadline = time.monotonic() + 5
    while pool.checkedout() and time.monotonic() < deadline:  # noqa: ASYNC110 - another thread
        await asyncio.sleep(0.05)
    assert pool.checkedout() == 0
    await socket.close()


@pytest.fixture
def second_process(settings: Settings) -> Iterator[str]:
    """Another API process on the same PostgreSQL and Redis."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "JWT_SECRET": settings.resolved_jwt_secret(),
        "WORKER_ID": "7",
        "HYBRID_THRESHOLD": str(settings.hybrid_threshold),
    }
    command = [sys.executable, "-m", "uvicorn", "app:create_app", "--factory", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_subscriber_on_one_process_sees_a_post_through_another(
    client: httpx.AsyncClient, live_server: str, second_process: str
) -> None:
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(second_process, reader.token)
    await socket.subscribe(HOME, {"since": since})
    async with httpx.AsyncClient(base_url=live_server) as other:
        tweet = await post(other, writer, "through the other process")
    assert ids(await received(socket, 1)) == [tweet]
    await socket.close()
