"""Notifications: written by the outbox jobs after the action commits, read by their recipient,
and delivered live to a `notifications` subscription."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from core import ids
from core.config import Settings
from core.ids import expect_global_id
from tests.graphql import Account, error_code, ok, post, register
from tests.test_social import FOLLOW, RETWEET, UNFOLLOW
from tests.ws import Socket
from workers import jobs

Settle = Callable[[], Awaitable[int]]
NOTIFICATIONS = """
query($first: Int, $after: String) {
  notifications(first: $first, after: $after) {
    edges { cursor node { id kind read actor { handle } tweet { id text } } }
    pageInfo { hasNextPage endCursor }
  }
  unreadNotificationCount
}
"""
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { id } }"
UNLIKE = "mutation($id: ID!) { unlikeTweet(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
MARK = "mutation($upTo: ID) { markNotificationsRead(upTo: $upTo) }"
REPLY = """
mutation($text: String!, $to: ID!) { createTweet(input: {text: $text, replyToId: $to}) { id } }
"""
SUBSCRIBE = "subscription($since: String) { notifications(since: $since) { cursor node { kind } } }"


async def inbox(client: httpx.AsyncClient, account: Account) -> tuple[list[tuple[str, str]], int]:
    """(kind, actor handle) newest first, and the unread count."""
    data = await ok(client, NOTIFICATIONS, {"first": 100}, token=account.token)
    edges = data["notifications"]["edges"]
    kinds = [(e["node"]["kind"], e["node"]["actor"]["handle"]) for e in edges]
    return kinds, data["unreadNotificationCount"]


async def test_each_action_notifies_its_recipient_once(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    ann, bob, cat = await register(client), await register(client), await register(client)
    tweet = await post(client, ann, f"hello @{bob.handle} and @nosuchhandle99 and @{ann.handle}")
    await ok(client, REPLY, {"text": "a reply", "to": tweet}, token=bob.token)
    for mutation in (LIKE, UNLIKE, LIKE):  # like, unlike, like again: one LIKE
        await ok(client, mutation, {"id": tweet}, token=cat.token)
    await ok(client, RETWEET, {"id": tweet}, token=cat.token)
    await ok(client, FOLLOW, {"id": ann.id}, token=cat.token)
    await ok(client, UNFOLLOW, {"id": ann.id}, token=cat.token)
    await ok(client, FOLLOW, {"id": ann.id}, token=cat.token)
    await ok(client, LIKE, {"id": tweet}, token=ann.token)  # own action: nobody notified
    await settle()
    await settle()  # a job run twice notifies once
    kinds, unread = await inbox(client, ann)
    assert sorted(kinds) == sorted(
        [
            ("REPLY", bob.handle),
            ("LIKE", cat.handle),
            ("RETWEET", cat.handle),
            ("FOLLOW", cat.handle),
        ]
    )
    assert unread == 4
    assert (await inbox(client, bob))[0] == [("MENTION", ann.handle)]


async def test_a_deleted_tweet_takes_its_notifications_along(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    ann, bob = await register(client), await register(client)
    tweet = await post(client, ann, "soon gone")
    await ok(client, LIKE, {"id": tweet}, token=bob.token)
    await ok(client, FOLLOW, {"id": ann.id}, token=bob.token)
    await settle()
    assert sorted(k for k, _ in (await inbox(client, ann))[0]) == ["FOLLOW", "LIKE"]
    await ok(client, DELETE, {"id": tweet}, token=ann.token)
    assert (await inbox(client, ann))[0] == [("FOLLOW", bob.handle)]


async def test_a_like_undone_before_its_job_runs_notifies_nobody(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    ann, bob = await register(client), await register(client)
    tweet = await post(client, ann, "quick")
    await ok(client, LIKE, {"id": tweet}, token=bob.token)
    await ok(client, UNLIKE, {"id": tweet}, token=bob.token)
    await settle()
    assert (await inbox(client, ann))[0] == []


async def test_an_id_minted_twice_fails_the_job_instead_of_losing_the_notification(
    client: httpx.AsyncClient, settle: Settle, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What two workers minting as one id did: the second notification's insert must fail (its
    job is retried, with a new id), not be taken for a repeat of the first and skipped."""
    ann, bob, cat = await register(client), await register(client), await register(client)
    tweet = await post(client, ann, "liked twice")
    await ok(client, LIKE, {"id": tweet}, token=bob.token)
    await settle()
    first = (await ok(client, NOTIFICATIONS, {"first": 1}, token=ann.token))["notifications"]
    taken = expect_global_id(first["edges"][0]["node"]["id"], "Notification")
    await ok(client, LIKE, {"id": tweet}, token=cat.token)
    monkeypatch.setattr(ids, "new_id", lambda: taken)
    with pytest.raises(IntegrityError, match="pk_notifications"):
        await settle()
    monkeypatch.undo()
    assert (await inbox(client, ann))[0] == [("LIKE", bob.handle)]
    stores = jobs.Stores.connect(settings, pool_size=1)
    liked = {
        "tweet_id": expect_global_id(tweet, "Tweet"),
        "actor_id": expect_global_id(cat.id, "User"),
    }
    try:
        await jobs.run(stores, "tweet.liked", liked)  # Dramatiq's retry
    finally:
        await stores.close()
    assert sorted((await inbox(client, ann))[0]) == sorted(
        [("LIKE", bob.handle), ("LIKE", cat.handle)]
    )


async def test_marking_read_pages_and_counts(client: httpx.AsyncClient, settle: Settle) -> None:
    ann = await register(client)
    fans = [await register(client) for _ in range(5)]
    for fan in fans:
        await ok(client, FOLLOW, {"id": ann.id}, token=fan.token)
    await settle()
    first = await ok(client, NOTIFICATIONS, {"first": 2}, token=ann.token)
    page = first["notifications"]
    assert page["pageInfo"]["hasNextPage"] and first["unreadNotificationCount"] == 5
    rest = await ok(
        client,
        NOTIFICATIONS,
        {"first": 10, "after": page["pageInfo"]["endCursor"]},
        token=ann.token,
    )
    assert len(rest["notifications"]["edges"]) == 3
    third_newest = rest["notifications"]["edges"][0]["node"]["id"]
    assert (await ok(client, MARK, {"upTo": third_newest}, token=ann.token))[
        "markNotificationsRead"
    ] == 3
    assert (await inbox(client, ann))[1] == 2
    assert (await ok(client, MARK, {}, token=ann.token))["markNotificationsRead"] == 2
    assert (await ok(client, MARK, {}, token=ann.token))["markNotificationsRead"] == 0
    assert await error_code(client, "{ unreadNotificationCount }") == "UNAUTHENTICATED"
    assert await error_code(client, MARK, {"upTo": "junk"}, token=ann.token) == "BAD_USER_INPUT"


async def test_notifications_arrive_live_and_resume(
    client: httpx.AsyncClient, settle: Settle, live_server: str
) -> None:
    ann, bob = await register(client), await register(client)
    await ok(client, FOLLOW, {"id": ann.id}, token=bob.token)
    await settle()
    data = await ok(client, NOTIFICATIONS, {"first": 1}, token=ann.token)
    since = data["notifications"]["edges"][0]["cursor"]
    tweet = await post(client, bob, f"hi @{ann.handle}")  # before subscribing: replayed
    await settle()
    socket = await Socket.open(live_server, ann.token)
    await socket.subscribe(SUBSCRIBE, {"since": since})
    first = (await socket.next())["data"]["notifications"]
    assert first["node"]["kind"] == "MENTION"
    await ok(client, LIKE, {"id": tweet}, token=ann.token)  # own action: nothing
    await ok(client, REPLY, {"text": "answer", "to": await post(client, ann, "q")}, token=bob.token)
    await settle()
    assert (await socket.next())["data"]["notifications"]["node"]["kind"] == "REPLY"
    assert await socket.silent(0.5)
    await socket.close()
