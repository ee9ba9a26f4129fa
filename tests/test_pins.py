"""A pinned tweet (CONTRACT.md, "Posts"): one per user, one's own and not a retweet; null
unpins; deleting it unpins it; the user's cached row follows every change."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import delete
from starlette.applications import Starlette

from core.db import Database
from core.ids import expect_global_id, to_global_id
from models import Tweet
from services import moderation
from services.work import unit_of_work
from tests.graphql import Account, error_code, ok, post, register
from tests.test_work import until_waiting_for_a_lock

PIN = "mutation($id: ID) { pinTweet(id: $id) { id pinnedTweet { id text } } }"
PINNED = "query($h: String!) { user(handle: $h) { pinnedTweet { id author { handle } } } }"
VIEWER = "{ viewer { pinnedTweet { id } } }"
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
PROFILE = "query($h: String!) { user(handle: $h) { tweets(first: 5) { edges { node { id } } } } }"
MISSING = to_global_id("Tweet", 12345)


async def pinned(client: httpx.AsyncClient, account: Account) -> Any:
    found = (await ok(client, PINNED, {"h": account.handle}))["user"]["pinnedTweet"]
    return found and found["id"]


async def test_pinning_replaces_the_earlier_pin_and_null_unpins(client: httpx.AsyncClient) -> None:
    me = await register(client)
    first, second = await post(client, me, "first"), await post(client, me, "second")
    assert await pinned(client, me) is None  # cached: each pin must drop it
    answer = (await ok(client, PIN, {"id": first}, token=me.token))["pinTweet"]
    assert answer == {"id": me.id, "pinnedTweet": {"id": first, "text": "first"}}
    assert await pinned(client, me) == first
    for _ in range(2):  # idempotent
        await ok(client, PIN, {"id": second}, token=me.token)
    assert await pinned(client, me) == second
    assert (await ok(client, VIEWER, token=me.token))["viewer"]["pinnedTweet"] == {"id": second}
    for _ in range(2):
        assert (await ok(client, PIN, {"id": None}, token=me.token))["pinTweet"][
            "pinnedTweet"
        ] is None
    assert (await ok(client, "mutation { pinTweet { pinnedTweet { id } } }", token=me.token))[
        "pinTweet"
    ] == {"pinnedTweet": None}
    assert await pinned(client, me) is None


async def test_a_reply_and_a_quote_can_be_pinned(client: httpx.AsyncClient) -> None:
    me, other = await register(client), await register(client)
    theirs = await post(client, other, "theirs")
    reply = await post(client, me, "my reply", reply_to=theirs)
    await ok(client, PIN, {"id": reply}, token=me.token)
    assert await pinned(client, me) == reply
    quote = (
        await ok(
            client,
            'mutation($q: ID) { createTweet(input: {text: "my quote", quoteOfId: $q}) { id } }',
            {"q": theirs},
            token=me.token,
        )
    )["createTweet"]["id"]
    await ok(client, PIN, {"id": quote}, token=me.token)
    assert await pinned(client, me) == quote


async def test_only_ones_own_tweets_and_no_retweet_can_be_pinned(client: httpx.AsyncClient) -> None:
    me, other = await register(client), await register(client)
    theirs = await post(client, other, "not mine")
    await ok(client, RETWEET, {"id": theirs}, token=me.token)
    profile = await ok(client, PROFILE, {"h": me.handle})
    (my_retweet,) = [edge["node"]["id"] for edge in profile["user"]["tweets"]["edges"]]
    mine = await post(client, me, "mine")
    await ok(client, PIN, {"id": mine}, token=me.token)
    for tweet_id, code in [
        (theirs, "FORBIDDEN"),
        (my_retweet, "FORBIDDEN"),
        (MISSING, "NOT_FOUND"),
        ("nonsense", "BAD_USER_INPUT"),
        (me.id, "BAD_USER_INPUT"),
    ]:
        assert await error_code(client, PIN, {"id": tweet_id}, token=me.token) == code
    assert await error_code(client, PIN, {"id": mine}) == "UNAUTHENTICATED"
    assert await pinned(client, me) == mine  # a refused pin changes nothing
    assert await pinned(client, other) is None


async def test_deleting_the_pinned_tweet_unpins_it(client: httpx.AsyncClient) -> None:
    me = await register(client)
    kept, gone = await post(client, me, "kept"), await post(client, me, "gone")
    await ok(client, PIN, {"id": gone}, token=me.token)
    assert await pinned(client, me) == gone  # cached
    await ok(client, DELETE, {"id": kept}, token=me.token)  # another tweet: the pin stays
    assert await pinned(client, me) == gone
    await ok(client, DELETE, {"id": gone}, token=me.token)
    assert await pinned(client, me) is None
    assert (await ok(client, VIEWER, token=me.token))["viewer"]["pinnedTweet"] is None


async def test_a_suspended_accounts_pin_is_gone_with_its_tweets(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    spammer = await register(client)
    spam = await post(client, spammer, "pinned spam")
    await ok(client, PIN, {"id": spam}, token=spammer.token)
    async with unit_of_work(app.state.stores) as work:
        await moderation.suspend(work, user_id=expect_global_id(spammer.id, "User"))
    assert await pinned(client, spammer) is None


async def test_a_pin_racing_the_delete_of_its_tweet_is_not_found(
    client: httpx.AsyncClient, db: Database
) -> None:
    me = await register(client)
    tweet = await post(client, me, "deleted while pinned")
    async with db.transaction() as deleting:
        await deleting.execute(delete(Tweet).where(Tweet.id == expect_global_id(tweet, "Tweet")))
        racing = asyncio.create_task(error_code(client, PIN, {"id": tweet}, token=me.token))
        await until_waiting_for_a_lock(db)  # the pin holds the row the delete is taking away
    assert await racing == "NOT_FOUND"
    assert await pinned(client, me) is None


async def test_a_delete_racing_a_pin_leaves_no_pin(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        me = await register(client)
        tweet = await post(client, me, "pin or delete")
        results = await asyncio.gather(
            client.post(
                "/graphql",
                json={"query": PIN, "variables": {"id": tweet}},
                headers={"Authorization": f"Bearer {me.token}"},
            ),
            ok(client, DELETE, {"id": tweet}, token=me.token),
        )
        pin = results[0].json()
        assert "data" in pin and (
            pin.get("errors") is None or pin["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        ), pin
        assert await pinned(client, me) is None
