"""Bookmarks (CONTRACT.md, "Posts"): idempotent, private, newest bookmark first with stable
cursors, gone with their tweet; viewerHasBookmarked read in one batch and kept fresh."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

from core.db import Database
from core.ids import expect_global_id, to_global_id
from models import Bookmark
from services import moderation
from services.work import unit_of_work
from tests.graphql import Account, error_code, ok, post, register
from tests.rest import failure
from tests.rest import ok as rest_ok
from tests.test_rest_graphql import FULL_TWEET
from tests.test_sql_cost import _drop_cache, counted

BOOKMARK = "mutation($id: ID!) { bookmarkTweet(id: $id) { id viewerHasBookmarked } }"
UNBOOKMARK = "mutation($id: ID!) { unbookmarkTweet(id: $id) { id viewerHasBookmarked } }"
BOOKMARKS = """query($first: Int, $after: String) { bookmarks(first: $first, after: $after) {
  edges { cursor node { id viewerHasBookmarked } } pageInfo { hasNextPage endCursor }
} }"""
FLAG = "query($id: ID!) { tweet(id: $id) { viewerHasBookmarked } }"
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
BLOCK = "mutation($id: ID!) { block(userId: $id) { id } }"
UNBLOCK = "mutation($id: ID!) { unblock(userId: $id) { id } }"
PROFILE = """query($h: String!) { user(handle: $h) {
  tweets(first: 50) { edges { node { id viewerHasBookmarked retweetOf { id viewerHasBookmarked } } } }
} }"""
MISSING = to_global_id("Tweet", 12345)


async def bookmarks(client: httpx.AsyncClient, account: Account, *, first: int = 50) -> list[str]:
    """Every bookmarked tweet, page by page."""
    found: list[str] = []
    after = None
    while True:
        variables = {"first": first, "after": after}
        page = (await ok(client, BOOKMARKS, variables, token=account.token))["bookmarks"]
        found += [edge["node"]["id"] for edge in page["edges"]]
        assert all(edge["node"]["viewerHasBookmarked"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def _flag(client: httpx.AsyncClient, tweet_id: str, viewer: Account | None) -> Any:
    return (await ok(client, FLAG, {"id": tweet_id}, token=viewer and viewer.token))["tweet"][
        "viewerHasBookmarked"
    ]


async def test_bookmarks_are_idempotent_and_listed_newest_bookmark_first(
    client: httpx.AsyncClient,
) -> None:
    viewer, author = await register(client), await register(client)
    older, newer = await post(client, author, "older"), await post(client, author, "newer")
    assert await _flag(client, older, viewer) is False  # cached as not bookmarked
    for _ in range(2):
        marked = (await ok(client, BOOKMARK, {"id": newer}, token=viewer.token))["bookmarkTweet"]
        assert marked == {"id": newer, "viewerHasBookmarked": True}
    await ok(client, BOOKMARK, {"id": older}, token=viewer.token)
    assert await _flag(client, older, viewer) is True
    assert await bookmarks(client, viewer) == [older, newer]  # by bookmark time, not tweet's
    assert await bookmarks(client, viewer, first=1) == [older, newer]
    for _ in range(2):
        gone = (await ok(client, UNBOOKMARK, {"id": older}, token=viewer.token))["unbookmarkTweet"]
        assert gone == {"id": older, "viewerHasBookmarked": False}
    assert await _flag(client, older, viewer) is False
    assert await bookmarks(client, viewer) == [newer]


async def test_bookmarking_a_retweet_bookmarks_its_original(client: httpx.AsyncClient) -> None:
    viewer, author, fan = await register(client), await register(client), await register(client)
    original = await post(client, author, "shared around")
    await ok(client, RETWEET, {"id": original}, token=fan.token)
    profile = await ok(client, PROFILE, {"h": fan.handle}, token=viewer.token)
    (retweet_row,) = [edge["node"]["id"] for edge in profile["user"]["tweets"]["edges"]]
    marked = (await ok(client, BOOKMARK, {"id": retweet_row}, token=viewer.token))["bookmarkTweet"]
    assert marked == {"id": original, "viewerHasBookmarked": True}
    profile = await ok(client, PROFILE, {"h": fan.handle}, token=viewer.token)
    (node,) = [edge["node"] for edge in profile["user"]["tweets"]["edges"]]
    assert node["retweetOf"] == {"id": original, "viewerHasBookmarked": True}
    assert await bookmarks(client, viewer) == [original]


async def test_bookmarks_are_private(client: httpx.AsyncClient) -> None:
    viewer, other, author = await register(client), await register(client), await register(client)
    tweet = await post(client, author, "private mark")
    await ok(client, BOOKMARK, {"id": tweet}, token=viewer.token)
    assert await _flag(client, tweet, other) is False
    assert await _flag(client, tweet, author) is False
    assert await _flag(client, tweet, None) is False
    assert await bookmarks(client, other) == []
    rest = await rest_ok(client, "GET", f"/tweets/{tweet}", other)
    assert rest["viewerHasBookmarked"] is False
    assert (await rest_ok(client, "GET", f"/tweets/{tweet}", viewer))["viewerHasBookmarked"]


async def test_bad_input_gets_the_contracts_codes(client: httpx.AsyncClient) -> None:
    viewer = await register(client)
    tweet = await post(client, viewer, "mine")
    assert await error_code(client, BOOKMARKS) == "UNAUTHENTICATED"
    for mutation in (BOOKMARK, UNBOOKMARK):
        assert await error_code(client, mutation, {"id": tweet}) == "UNAUTHENTICATED"
        for bad, code in [(MISSING, "NOT_FOUND"), ("nonsense", "BAD_USER_INPUT")]:
            assert await error_code(client, mutation, {"id": bad}, token=viewer.token) == code
        user_id = {"id": viewer.id}
        assert await error_code(client, mutation, user_id, token=viewer.token) == "BAD_USER_INPUT"
    for variables in [{"first": 0}, {"first": 101}, {"after": "garbage"}]:
        assert await error_code(client, BOOKMARKS, variables, token=viewer.token) == (
            "BAD_USER_INPUT"
        )
    # a cursor of another list is not a bookmark's
    timeline = "{ homeTimeline(first: 1) { pageInfo { endCursor } } }"
    await ok(client, BOOKMARK, {"id": tweet}, token=viewer.token)
    cursor = (await ok(client, timeline, token=viewer.token))["homeTimeline"]["pageInfo"][
        "endCursor"
    ]
    variables = {"after": cursor}
    assert await error_code(client, BOOKMARKS, variables, token=viewer.token) == "BAD_USER_INPUT"


async def test_cursors_are_stable_while_bookmarks_are_added(client: httpx.AsyncClient) -> None:
    viewer, author = await register(client), await register(client)
    tweets = [await post(client, author, f"t{n}") for n in range(5)]
    for tweet in tweets:
        await ok(client, BOOKMARK, {"id": tweet}, token=viewer.token)
    page = (await ok(client, BOOKMARKS, {"first": 2}, token=viewer.token))["bookmarks"]
    await ok(client, BOOKMARK, {"id": await post(client, author, "late")}, token=viewer.token)
    await ok(client, UNBOOKMARK, {"id": tweets[4]}, token=viewer.token)  # on the first page
    after = page["pageInfo"]["endCursor"]
    rest = (await ok(client, BOOKMARKS, {"first": 10, "after": after}, token=viewer.token))[
        "bookmarks"
    ]
    assert [edge["node"]["id"] for edge in rest["edges"]] == tweets[2::-1]


async def test_deleted_tweets_and_suspended_authors_leave_bookmarks(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    viewer, author, spammer = await register(client), await register(client), await register(client)
    kept = await post(client, author, "kept")
    deleted = await post(client, author, "deleted")
    spam = await post(client, spammer, "spam")
    for tweet in (kept, deleted, spam):
        await ok(client, BOOKMARK, {"id": tweet}, token=viewer.token)
    assert await bookmarks(client, viewer) == [spam, deleted, kept]
    await ok(client, DELETE, {"id": deleted}, token=author.token)
    async with unit_of_work(app.state.stores) as work:
        await moderation.suspend(work, user_id=expect_global_id(spammer.id, "User"))
    assert await bookmarks(client, viewer) == [kept]
    assert await bookmarks(client, viewer, first=1) == [kept]
    assert await error_code(client, BOOKMARK, {"id": spam}, token=viewer.token) == "NOT_FOUND"


async def test_a_block_hides_bookmarks_of_the_other_while_it_stands(
    client: httpx.AsyncClient,
) -> None:
    viewer, other = await register(client), await register(client)
    theirs = await post(client, other, "theirs")
    await ok(client, BOOKMARK, {"id": theirs}, token=viewer.token)
    await ok(client, BLOCK, {"id": viewer.id}, token=other.token)
    assert await bookmarks(client, viewer) == []
    await ok(client, UNBLOCK, {"id": viewer.id}, token=other.token)
    assert await bookmarks(client, viewer) == [theirs]


async def test_concurrent_bookmarks_store_one_and_unbookmarks_remove_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    viewer, author = await register(client), await register(client)
    tweet = await post(client, author, "raced")
    raw_user, raw_tweet = expect_global_id(viewer.id, "User"), expect_global_id(tweet, "Tweet")

    async def stored() -> int:
        query = select(func.count()).where(
            Bookmark.user_id == raw_user, Bookmark.tweet_id == raw_tweet
        )
        async with db.read() as connection:
            return int(await connection.scalar(query) or 0)

    marked = await asyncio.gather(
        *(ok(client, BOOKMARK, {"id": tweet}, token=viewer.token) for _ in range(6))
    )
    assert all(m["bookmarkTweet"]["viewerHasBookmarked"] for m in marked)
    assert await stored() == 1 and await bookmarks(client, viewer) == [tweet]
    await asyncio.gather(
        *(ok(client, UNBOOKMARK, {"id": tweet}, token=viewer.token) for _ in range(6))
    )
    assert await stored() == 0 and await bookmarks(client, viewer) == []
    assert await _flag(client, tweet, viewer) is False


async def test_view_flags_of_a_page_are_read_in_one_batch(
    client: httpx.AsyncClient, db: Database, app: Starlette
) -> None:
    viewer, author = await register(client), await register(client)
    tweets = [await post(client, author, f"page {n}") for n in range(30)]
    for tweet in tweets[::3]:
        await ok(client, BOOKMARK, {"id": tweet}, token=viewer.token)
    cost = {}
    for first in (5, 30):
        await _drop_cache(app.state.redis)
        with counted(db) as statements:
            profile = await ok(
                client,
                PROFILE.replace("first: 50", f"first: {first}"),
                {"h": author.handle},
                token=viewer.token,
            )
        nodes = [edge["node"] for edge in profile["user"]["tweets"]["edges"]]
        assert [n["viewerHasBookmarked"] for n in nodes] == [
            t in tweets[::3] for t in tweets[::-1][:first]
        ]
        cost[first] = sum("bookmarks" in statement for statement in statements)
    assert cost == {5: 1, 30: 1}


async def test_rest_bookmarks_answer_as_graphql_does(client: httpx.AsyncClient) -> None:
    viewer, author = await register(client), await register(client)
    tweets = [await post(client, author, f"rest {n}") for n in range(3)]
    for tweet in tweets:
        marked = await rest_ok(client, "POST", f"/tweets/{tweet}/bookmark", viewer)
        assert marked["id"] == tweet and marked["viewerHasBookmarked"]
    again = await rest_ok(client, "POST", f"/tweets/{tweets[0]}/bookmark", viewer)
    assert again["viewerHasBookmarked"]  # idempotent
    listed = await rest_ok(client, "GET", "/bookmarks?limit=2", viewer)
    query = f"query($first: Int) {{ bookmarks(first: $first) {{ edges {{ node {{ {FULL_TWEET} }} }} pageInfo {{ endCursor }} }} }}"
    graphql = (await ok(client, query, {"first": 2}, token=viewer.token))["bookmarks"]
    assert listed == {
        "data": [edge["node"] for edge in graphql["edges"]],
        "nextCursor": graphql["pageInfo"]["endCursor"],
    }
    rest = await rest_ok(client, "GET", f"/bookmarks?cursor={listed['nextCursor']}", viewer)
    assert [item["id"] for item in rest["data"]] == [tweets[0]] and rest["nextCursor"] is None
    gone = await rest_ok(client, "DELETE", f"/tweets/{tweets[1]}/bookmark", viewer)
    assert gone["id"] == tweets[1] and not gone["viewerHasBookmarked"]
    assert await bookmarks(client, viewer) == [tweets[2], tweets[0]]
    assert await failure(client, "GET", "/bookmarks") == (401, "UNAUTHENTICATED")
    missing = f"/tweets/{MISSING}/bookmark"
    assert await failure(client, "POST", missing, viewer) == (404, "NOT_FOUND")
    assert await failure(client, "DELETE", missing, viewer) == (404, "NOT_FOUND")
    assert await failure(client, "GET", "/bookmarks?cursor=garbage", viewer) == (
        400,
        "BAD_USER_INPUT",
    )
