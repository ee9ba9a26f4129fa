"""homeTimelineRemovals: a client is told when an entry it was sent leaves the viewer's home
timeline, for every reason (contract-safety.graphql), so its cache can drop it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from starlette.applications import Starlette

from core.ids import expect_global_id
from services import moderation
from services.work import unit_of_work
from tests.graphql import Account, ok, post, register
from tests.test_safety import BLOCK, MUTE, RETWEET
from tests.test_social import UNDO, UNFOLLOW
from tests.test_timelines import DELETE, follow, home
from tests.ws import Socket

Settle = Callable[[], Awaitable[int]]
REMOVALS = "subscription { homeTimelineRemovals { id cursor } }"


async def _removed(socket: Socket, count: int) -> set[str]:
    gone = set()
    for _ in range(count):
        payload = await socket.next()
        assert "errors" not in payload, payload
        removal = payload["data"]["homeTimelineRemovals"]
        assert removal["cursor"]
        gone.add(removal["id"])
    return gone


async def _watching(client: httpx.AsyncClient, live_server: str) -> tuple[Account, Account, Socket]:
    viewer, author = await register(client), await register(client)
    await follow(client, viewer, author)
    await home(client, viewer)
    socket = await Socket.open(live_server, viewer.token)
    await socket.subscribe(REMOVALS)
    return viewer, author, socket


async def test_a_deleted_tweet_and_an_undone_retweet_leave(
    client: httpx.AsyncClient, live_server: str
) -> None:
    viewer, author, socket = await _watching(client, live_server)
    tweet = await post(client, author, "deleted soon")
    other = await register(client)
    original = await post(client, other, "retweeted, then not")
    retweet = (await ok(client, RETWEET, {"id": original}, token=author.token))["retweet"]["id"]
    await ok(client, DELETE, {"id": tweet}, token=author.token)
    assert await _removed(socket, 1) == {tweet}
    await ok(client, UNDO, {"id": original}, token=author.token)
    gone = await _removed(socket, 1)
    assert len(gone) == 1 and gone != {original} and retweet == original  # the original answers
    await socket.close()


async def test_unfollowing_blocking_and_muting_remove_the_authors_entries(
    client: httpx.AsyncClient, live_server: str, settle: Settle
) -> None:
    for change, query in (("unfollow", UNFOLLOW), ("block", BLOCK), ("mute", MUTE)):
        viewer, author, socket = await _watching(client, live_server)
        tweets = {await post(client, author, f"{change} {n}") for n in range(3)}
        await settle()
        await ok(client, query, {"id": author.id}, token=viewer.token)
        assert await _removed(socket, 3) == tweets, change
        await socket.close()


async def test_a_block_removes_the_blockers_entries_from_the_blocked_side_too(
    client: httpx.AsyncClient, live_server: str
) -> None:
    viewer, author, socket = await _watching(client, live_server)
    await follow(client, author, viewer)
    mine = await post(client, viewer, "mine, seen by the author")
    author_socket = await Socket.open(live_server, author.token)
    await author_socket.subscribe(REMOVALS)
    await ok(client, BLOCK, {"id": author.id}, token=viewer.token)  # the viewer blocks
    assert mine in await _removed(author_socket, 1)
    await author_socket.close()
    await socket.close()


async def test_suspension_and_moderator_removal_leave(
    client: httpx.AsyncClient, live_server: str, app: Starlette, settle: Settle
) -> None:
    viewer, author, socket = await _watching(client, live_server)
    removed = await post(client, author, "removed by a moderator")
    async with unit_of_work(app.state.stores) as work:  # what REMOVE_TWEET does
        from services import tweets

        await tweets.delete_tweet(
            work,
            actor_id=expect_global_id(author.id, "User"),
            tweet_id=expect_global_id(removed, "Tweet"),
        )
    assert await _removed(socket, 1) == {removed}
    kept = {await post(client, author, f"before the suspension {n}") for n in range(2)}
    await settle()
    async with unit_of_work(app.state.stores) as work:
        await moderation.suspend(work, user_id=expect_global_id(author.id, "User"))
    await settle()
    assert await _removed(socket, 2) == kept
    await socket.close()
