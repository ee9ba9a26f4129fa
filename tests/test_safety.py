"""Blocks, mutes and muted words on every read path (CONTRACT.md, "Safety"): the home timeline
from Redis, merged at read time and from the database, search, replies, profiles,
notifications, live subscriptions and REST; the writes a block forbids, and its races."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import text, update
from starlette.applications import Starlette

from app import create_app
from core.config import Settings
from core.db import Database
from core.ids import expect_global_id
from models import Mute, MutedWord
from services import blocks, cache
from services.work import unit_of_work
from tests.graphql import Account, error_code, ok, post, register
from tests.rest import ok as rest_ok
from tests.test_realtime import HOME as LIVE_HOME
from tests.test_timelines import follow, home
from tests.test_work import until_waiting_for_a_lock
from tests.ws import Socket

Settle = Callable[[], Awaitable[int]]
BLOCK = "mutation($id: ID!) { block(userId: $id) { id viewerHasBlocked blocksViewer followerCount followingCount } }"
UNBLOCK = "mutation($id: ID!) { unblock(userId: $id) { id viewerHasBlocked } }"
MUTE = "mutation($id: ID!, $s: Int) { mute(userId: $id, expiresIn: $s) { id viewerHasMuted } }"
UNMUTE = "mutation($id: ID!) { unmute(userId: $id) { id viewerHasMuted } }"
MUTE_WORD = "mutation($w: String!, $s: Int) { muteWord(input: {word: $w, expiresIn: $s}) { id word expiresAt } }"
UNMUTE_WORD = "mutation($id: ID!) { unmuteWord(id: $id) }"
WORDS = "{ mutedWords { id word } }"
BLOCKED = "{ blockedUsers(first: 10) { edges { node { id } } } }"
MUTED = "{ mutedUsers(first: 10) { edges { node { id } } } }"
FLAGS = "query($h: String!) { user(handle: $h) { viewerHasBlocked blocksViewer viewerHasMuted viewerIsFollowing followsViewer } }"
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { id } }"
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { id } }"
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id } }"
REPLY = 'mutation($t: ID!) { createTweet(input: {text: "re", replyToId: $t}) { id } }'
TWEET = "query($id: ID!) { tweet(id: $id) { id text } }"
SEARCH = "query($q: String!) { searchTweets(query: $q, first: 50) { edges { node { id } } } }"
REPLIES = "query($id: ID!) { tweet(id: $id) { replies(first: 50) { edges { node { id } } } } }"
PROFILE = "query($h: String!) { user(handle: $h) { tweets(first: 50) { edges { node { id } } } } }"
NOTIFICATIONS = "{ notifications(first: 50) { edges { node { kind actor { id } } } } }"


async def _word(client: httpx.AsyncClient) -> str:
    return "w" + (await register(client)).handle[1:].lower()


async def _trio(client: httpx.AsyncClient) -> tuple[Account, Account, Account]:
    """A viewer, an account it will shut out, and a friend of both whom the viewer follows."""
    viewer, other, friend = await register(client), await register(client), await register(client)
    await follow(client, viewer, other)
    await follow(client, viewer, friend)
    await follow(client, other, viewer)
    await home(client, viewer)  # the viewer's timeline is live in Redis
    return viewer, other, friend


async def test_a_block_removes_follows_and_hides_both_ways_on_every_path(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    viewer, other, friend = await _trio(client)
    word = await _word(client)
    theirs = await post(client, other, f"theirs {word}")
    mine = await post(client, viewer, f"mine {word}")
    shared = await ok(client, RETWEET, {"id": theirs}, token=friend.token)
    reply = await post(client, other, f"a reply {word}", reply_to=mine)
    await settle()
    assert theirs in await home(client, viewer)
    blocked = (await ok(client, BLOCK, {"id": other.id}, token=viewer.token))["block"]
    assert blocked["viewerHasBlocked"] and not blocked["blocksViewer"]
    assert blocked["followerCount"] == 0 and blocked["followingCount"] == 0  # both ways
    await settle()
    seen = await home(client, viewer)
    assert theirs not in seen and shared["retweet"]["id"] not in seen
    assert [
        e["node"]["id"]
        for e in (await ok(client, SEARCH, {"q": word}, token=viewer.token))["searchTweets"][
            "edges"
        ]
    ] == [mine]
    replies = (await ok(client, REPLIES, {"id": mine}, token=viewer.token))["tweet"]["replies"]
    assert replies["edges"] == []
    profile = await ok(client, PROFILE, {"h": other.handle}, token=viewer.token)
    assert profile["user"]["tweets"]["edges"] == []
    # the blocked side sees the same nothing of the blocker, and neither can reach the other
    assert mine not in await home(client, other)
    profile = await ok(client, PROFILE, {"h": viewer.handle}, token=other.token)
    assert profile["user"]["tweets"]["edges"] == []
    flags = (await ok(client, FLAGS, {"h": viewer.handle}, token=other.token))["user"]
    assert flags["blocksViewer"] and not flags["viewerHasBlocked"]
    for account, query, variables in [
        (other, FOLLOW, {"id": viewer.id}),
        (viewer, FOLLOW, {"id": other.id}),
        (other, LIKE, {"id": mine}),
        (viewer, LIKE, {"id": theirs}),
        (other, RETWEET, {"id": mine}),
        (viewer, REPLY, {"t": theirs}),
        (other, REPLY, {"t": mine}),
    ]:
        assert await error_code(client, query, variables, token=account.token) == "FORBIDDEN"
    # public content still answers
    assert (await ok(client, TWEET, {"id": theirs}, token=viewer.token))["tweet"]["id"] == theirs
    assert reply  # stayed stored
    listed = await ok(client, BLOCKED, token=viewer.token)
    assert [edge["node"]["id"] for edge in listed["blockedUsers"]["edges"]] == [other.id]
    # unblocking restores no follow
    assert not (await ok(client, UNBLOCK, {"id": other.id}, token=viewer.token))["unblock"][
        "viewerHasBlocked"
    ]
    flags = (await ok(client, FLAGS, {"h": other.handle}, token=viewer.token))["user"]
    assert not flags["viewerIsFollowing"] and not flags["followsViewer"]
    assert theirs in [
        e["node"]["id"]
        for e in (await ok(client, SEARCH, {"q": word}, token=viewer.token))["searchTweets"][
            "edges"
        ]
    ]


async def test_a_blocked_account_notifies_nobody_and_old_notices_hide(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    viewer, other, _ = await _trio(client)
    mine = await post(client, viewer, "notice me")
    await ok(client, LIKE, {"id": mine}, token=other.token)
    await settle()
    before = (await ok(client, NOTIFICATIONS, token=viewer.token))["notifications"]["edges"]
    assert {(e["node"]["kind"], e["node"]["actor"]["id"]) for e in before} >= {("LIKE", other.id)}
    await ok(client, BLOCK, {"id": viewer.id}, token=other.token)  # the other blocks the viewer
    await settle()
    await post(client, other, f"@{viewer.handle} a mention")  # would notify without the block
    await settle()
    after = (await ok(client, NOTIFICATIONS, token=viewer.token))["notifications"]["edges"]
    assert [e for e in after if e["node"]["actor"]["id"] == other.id] == []


async def test_blocking_oneself_and_muting_oneself_are_bad_input(client: httpx.AsyncClient) -> None:
    me = await register(client)
    assert await error_code(client, BLOCK, {"id": me.id}, token=me.token) == "BAD_USER_INPUT"
    assert await error_code(client, MUTE, {"id": me.id}, token=me.token) == "BAD_USER_INPUT"
    other = await register(client)
    for seconds in (0, 59, -5):
        variables = {"id": other.id, "s": seconds}
        assert await error_code(client, MUTE, variables, token=me.token) == "BAD_USER_INPUT"
    assert await error_code(client, BLOCK, {"id": other.id}) == "UNAUTHENTICATED"
    missing = "VXNlcjoxMjM0NQ"  # User:12345
    assert await error_code(client, BLOCK, {"id": missing}, token=me.token) == "NOT_FOUND"
    assert await error_code(client, MUTE, {"id": missing}, token=me.token) == "NOT_FOUND"


async def test_a_mute_hides_from_home_and_notifications_only_and_lapses_by_itself(
    client: httpx.AsyncClient, settle: Settle, db: Database
) -> None:
    viewer, other, friend = await _trio(client)
    word = await _word(client)
    theirs = await post(client, other, f"muted soon {word}")
    shared = (await ok(client, RETWEET, {"id": theirs}, token=friend.token))["retweet"]["id"]
    await settle()
    muted = (await ok(client, MUTE, {"id": other.id, "s": 3600}, token=viewer.token))["mute"]
    assert muted["viewerHasMuted"]
    seen = await home(client, viewer)
    assert theirs not in seen and shared not in seen
    mine = await post(client, viewer, "still mine")
    await ok(client, LIKE, {"id": mine}, token=other.token)  # a muted account notifies nobody
    await settle()
    notices = (await ok(client, NOTIFICATIONS, token=viewer.token))["notifications"]["edges"]
    assert [e for e in notices if e["node"]["actor"]["id"] == other.id] == []
    # search and profiles are unchanged, and the muted account sees nothing different
    found = await ok(client, SEARCH, {"q": word}, token=viewer.token)
    assert [e["node"]["id"] for e in found["searchTweets"]["edges"]] == [theirs]
    listed = await ok(client, MUTED, token=viewer.token)
    assert [edge["node"]["id"] for edge in listed["mutedUsers"]["edges"]] == [other.id]
    flags = (await ok(client, FLAGS, {"h": viewer.handle}, token=other.token))["user"]
    assert not flags["viewerHasMuted"] and not flags["blocksViewer"]  # private to the muter
    # it lapses by itself: no job runs, the clock passes its expiry
    async with db.transaction() as session:
        await session.execute(
            update(Mute)
            .where(Mute.muter_id == expect_global_id(viewer.id, "User"))
            .values(expires_at=text("now() - interval '1 second'"))
        )
    await _forget_safety(client, viewer)
    assert theirs in await home(client, viewer)
    assert (await ok(client, MUTED, token=viewer.token))["mutedUsers"]["edges"] == []
    assert not (await ok(client, FLAGS, {"h": other.handle}, token=viewer.token))["user"][
        "viewerHasMuted"
    ]


async def _forget_safety(client: httpx.AsyncClient, viewer: Account) -> None:
    """Stands for the cache's TTL: a lapse needs no invalidation, only the clock (the cached
    expiry is compared at each read, which this also covers by reading the database again)."""
    app = client._transport.app  # type: ignore[attr-defined]
    await app.state.redis.delete(cache.key(cache.SAFETY, expect_global_id(viewer.id, "User")))


async def test_a_lapsed_mute_needs_no_invalidation(
    client: httpx.AsyncClient, settle: Settle, db: Database
) -> None:
    """The cached set keeps each mute's expiry; once it passes, reads show the account again."""
    viewer, other, _ = await _trio(client)
    theirs = await post(client, other, "soon visible")
    await settle()
    await ok(client, MUTE, {"id": other.id, "s": 60}, token=viewer.token)
    assert theirs not in await home(client, viewer)  # cached now, with its expiry
    app = client._transport.app  # type: ignore[attr-defined]
    key = cache.key(cache.SAFETY, expect_global_id(viewer.id, "User"))
    cached = await app.state.redis.get(key)
    assert cached is not None
    import json

    value = json.loads(cached)
    value[2] = [[user, 1.0] for user, _ in value[2]]  # as if 60 s had passed
    await app.state.redis.set(key, json.dumps(value))
    assert theirs in await home(client, viewer)


@pytest.mark.parametrize(
    ("muted", "text_", "hidden"),
    [
        ("Cats", "I like cats a lot", True),
        ("cats", "I like CATS.", True),
        ("cats", "#cats are great", True),
        ("cats", "concatenation is no cat", False),
        ("#cats", "#cats are great", True),
        ("#cats", "I like cats", False),
        ("new york", "I love New York!", True),
        ("new york", "newyork", False),
    ],
)
async def test_muted_words_hide_whole_words_and_hashtags_from_home(
    client: httpx.AsyncClient, settle: Settle, muted: str, text_: str, hidden: bool
) -> None:
    viewer, other, _ = await _trio(client)
    await ok(client, MUTE_WORD, {"w": muted}, token=viewer.token)
    theirs = await post(client, other, text_)
    mine = await post(client, viewer, text_)
    await settle()
    seen = await home(client, viewer)
    assert (theirs not in seen) == hidden
    assert mine in seen  # one's own tweets are never hidden


async def test_muted_words_list_limit_expiry_and_unmute(client: httpx.AsyncClient) -> None:
    viewer = await register(client)
    first = (await ok(client, MUTE_WORD, {"w": "  Spoiler "}, token=viewer.token))["muteWord"]
    assert first["word"] == "spoiler" and first["expiresAt"] is None
    again = (await ok(client, MUTE_WORD, {"w": "spoiler", "s": 120}, token=viewer.token))[
        "muteWord"
    ]
    assert again["id"] == first["id"] and again["expiresAt"] is not None  # replaced its expiry
    for bad in ["", "   ", "#", "x" * 101, "two\nlines"]:
        assert await error_code(client, MUTE_WORD, {"w": bad}, token=viewer.token) == (
            "BAD_USER_INPUT"
        ), bad
    for n in range(99):
        await ok(client, MUTE_WORD, {"w": f"word{n}"}, token=viewer.token)
    assert await error_code(client, MUTE_WORD, {"w": "one more"}, token=viewer.token) == (
        "BAD_USER_INPUT"
    )
    words = (await ok(client, WORDS, token=viewer.token))["mutedWords"]
    assert len(words) == 100 and words[-1]["word"] == "spoiler"  # newest first
    removed = await ok(client, UNMUTE_WORD, {"id": first["id"]}, token=viewer.token)
    assert removed["unmuteWord"] == first["id"]
    assert await error_code(client, UNMUTE_WORD, {"id": first["id"]}, token=viewer.token) == (
        "NOT_FOUND"
    )
    assert await ok(client, MUTE_WORD, {"w": "one more"}, token=viewer.token)
    other = await register(client)
    words = (await ok(client, WORDS, token=viewer.token))["mutedWords"]
    assert await error_code(client, UNMUTE_WORD, {"id": words[0]["id"]}, token=other.token) == (
        "NOT_FOUND"
    )


async def test_filtering_keeps_pages_full_and_cursors_stable(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    viewer, other, friend = await _trio(client)
    visible = []
    for n in range(12):
        if n % 4 == 0:
            visible.append(await post(client, friend, f"kept {n}"))
        for m in range(3):
            await post(client, other, f"hidden {n} {m}")
    await settle()
    await ok(client, MUTE, {"id": other.id}, token=viewer.token)
    pages: list[list[str]] = []
    after = None
    while True:
        query = "query($a: String) { homeTimeline(first: 2, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"
        page = (await ok(client, query, {"a": after}, token=viewer.token))["homeTimeline"]
        pages.append([edge["node"]["id"] for edge in page["edges"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [tweet for page in pages for tweet in page] == visible[::-1]
    assert all(len(page) == 2 for page in pages[:-1]) and pages[-1]  # never short, never empty


async def test_merged_accounts_and_the_database_path_filter_alike(
    client: httpx.AsyncClient, settle: Settle, settings: Settings
) -> None:
    """A muted account above the hybrid threshold (merged at read time), then Redis down."""
    viewer, big, _ = await _trio(client)
    for _ in range(4):
        await follow(client, await register(client), big)  # past the session's threshold of 3
    await settle()
    theirs = await post(client, big, "merged at read time")
    await settle()
    assert theirs in await home(client, viewer)
    await ok(client, MUTE, {"id": big.id}, token=viewer.token)
    assert theirs not in await home(client, viewer)
    down = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    async with down.router.lifespan_context(down):
        transport = httpx.ASGITransport(app=down)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            assert theirs not in await home(other, viewer)
            await ok(other, UNMUTE, {"id": big.id}, token=viewer.token)
            assert theirs in await home(other, viewer)


async def test_rest_reads_filter_as_graphql_does(client: httpx.AsyncClient, settle: Settle) -> None:
    viewer, other, _ = await _trio(client)
    theirs = await post(client, other, "not over REST either")
    await settle()
    await ok(client, BLOCK, {"id": other.id}, token=viewer.token)
    timeline = await rest_ok(client, "GET", "/timeline", viewer)
    assert theirs not in [tweet["id"] for tweet in timeline["data"]]
    listed = await rest_ok(client, "GET", f"/users/{other.handle}/tweets", viewer)
    assert listed["data"] == []


async def test_live_home_timeline_skips_blocked_and_muted_authors(
    client: httpx.AsyncClient, live_server: str, settle: Settle
) -> None:
    viewer, other, friend = await _trio(client)
    await ok(client, MUTE_WORD, {"w": "secret"}, token=viewer.token)
    socket = await Socket.open(live_server, viewer.token)
    await socket.subscribe(LIVE_HOME)
    await ok(client, MUTE, {"id": other.id}, token=viewer.token)
    muted = await post(client, other, "from a muted account")
    shared = (await ok(client, RETWEET, {"id": muted}, token=friend.token))["retweet"]["id"]
    secret = await post(client, friend, "a secret word")
    kept = await post(client, friend, "nothing to hide")
    await settle()
    payload = await socket.next()
    assert payload["data"]["homeTimeline"]["node"]["id"] == kept, payload
    assert await socket.silent(1.0)
    assert {muted, shared, secret}.isdisjoint({kept})
    await socket.close()


@pytest.mark.parametrize("write", ["follow", "like", "reply", "retweet"])
async def test_a_block_racing_a_write_from_the_other_side_wins(
    client: httpx.AsyncClient, app: Starlette, db: Database, write: str
) -> None:
    """The other side writes while the block is in progress (done, not yet committed): it waits
    for the pair's lock, then finds the block. Before: it went through beside the block."""
    one, two = await register(client), await register(client)
    tweet = await post(client, one, "the blocker's")
    query, variables = {
        "follow": (FOLLOW, {"id": one.id}),
        "like": (LIKE, {"id": tweet}),
        "reply": (REPLY, {"t": tweet}),
        "retweet": (RETWEET, {"id": tweet}),
    }[write]
    async with unit_of_work(app.state.stores) as work:
        await blocks.block(work, actor_id=_raw(one), user_id=_raw(two))
        racing = asyncio.create_task(error_code(client, query, variables, token=two.token))
        await until_waiting_for_a_lock(db)
    assert await racing == "FORBIDDEN"
    flags = (await ok(client, FLAGS, {"h": one.handle}, token=two.token))["user"]
    assert not flags["viewerIsFollowing"] and flags["blocksViewer"]
    counts = "query($id: ID!) { tweet(id: $id) { likeCount retweetCount replyCount } }"
    assert (await ok(client, counts, {"id": tweet}))["tweet"] == {
        "likeCount": 0,
        "retweetCount": 0,
        "replyCount": 0,
    }


def _raw(account: Account) -> int:
    return expect_global_id(account.id, "User")


async def test_muted_word_rows_lapse_in_the_list(client: httpx.AsyncClient, db: Database) -> None:
    viewer = await register(client)
    await ok(client, MUTE_WORD, {"w": "fleeting", "s": 60}, token=viewer.token)
    async with db.transaction() as session:
        await session.execute(
            update(MutedWord)
            .where(MutedWord.user_id == expect_global_id(viewer.id, "User"))
            .values(expires_at=text("now() - interval '1 second'"))
        )
    assert (await ok(client, WORDS, token=viewer.token))["mutedWords"] == []
