"""Search over tweets and users, and trending hashtags, on PostgreSQL and Redis.

Each test makes up its own words, handles and tags, so tweets other tests post in the same
database never match."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from services import search, trends
from tests.graphql import error_code, ok, post, register
from tests.test_cache import EDIT
from tests.test_notifications import DELETE

Settle = Callable[[], Awaitable[int]]
SEARCH = """
query($q: String!, $first: Int, $after: String) {
  searchTweets(query: $q, first: $first, after: $after) {
    edges { cursor node { id text } } pageInfo { hasNextPage endCursor }
  }
}
"""
USERS = """
query($q: String!, $first: Int, $after: String) {
  searchUsers(query: $q, first: $first, after: $after) {
    edges { cursor node { handle } } pageInfo { hasNextPage endCursor }
  }
}
"""
TRENDS = "query($limit: Int) { trendingHashtags(limit: $limit) { tag tweetCount } }"
REGISTER_NAMED = """
mutation($handle: String!, $name: String) {
  register(input: {handle: $handle, password: "correct horse", displayName: $name}) { token }
}
"""


def made_up() -> str:
    return "w" + uuid.uuid4().hex[:10]


async def found(client: httpx.AsyncClient, query: str, first: int = 100) -> list[str]:
    data = await ok(client, SEARCH, {"q": query, "first": first})
    return [edge["node"]["id"] for edge in data["searchTweets"]["edges"]]


async def test_words_phrases_tags_and_mentions_are_all_required(
    client: httpx.AsyncClient,
) -> None:
    author, mentioned = await register(client), await register(client)
    word = made_up()
    first = await post(client, author, f"alpha {word} #Tag{word} hello @{mentioned.handle}")
    second = await post(client, author, f"{word} beta")
    third = await post(client, author, f"beta {word} alpha")
    assert await found(client, word) == [third, second, first]  # newest first
    assert await found(client, f"{word.upper()} alpha") == [third, first]
    assert await found(client, f'"beta {word}"') == [third]  # a phrase: in that order
    assert await found(client, f"#tag{word}") == [first]
    assert await found(client, f"@{mentioned.handle.upper()} {word}") == [first]
    assert await found(client, f"#tag{word} beta") == []
    assert await found(client, f"{word} nosuchword{word}") == []


async def test_pages_of_results_neither_repeat_nor_skip(client: httpx.AsyncClient) -> None:
    author, word = await register(client), made_up()
    posted = [await post(client, author, f"{word} number {n}") for n in range(5)]
    seen, after = [], None
    while True:
        data = await ok(client, SEARCH, {"q": word, "first": 2, "after": after})
        page = data["searchTweets"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        await post(client, author, f"{word} posted meanwhile")  # newer: not on later pages
    assert seen == posted[::-1]


@pytest.mark.parametrize("scan_window", [1, 4, 1_000])
async def test_matches_older_than_the_newest_tweets_scanned_are_found_in_the_index(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, scan_window: int
) -> None:
    monkeypatch.setattr(search, "SCAN_WINDOW", scan_window)
    author, word = await register(client), made_up()
    posted = [await post(client, author, f"{word} {n} #{word}") for n in range(3)]
    for n in range(5):
        await post(client, author, f"not it {n}")
    seen, after = [], None
    while True:
        data = await ok(client, SEARCH, {"q": f"#{word} {word}", "first": 2, "after": after})
        page = data["searchTweets"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == posted[::-1]


async def test_deleted_tweets_vanish_and_edited_ones_are_found_by_their_new_text(
    client: httpx.AsyncClient,
) -> None:
    author, old, new = await register(client), made_up(), made_up()
    kept = await post(client, author, f"{old} kept")
    edited = await post(client, author, f"{old} edited")
    deleted = await post(client, author, f"{old} deleted")
    await ok(client, DELETE, {"id": deleted}, token=author.token)
    await ok(client, EDIT, {"id": edited, "text": f"{new} now"}, token=author.token)
    assert await found(client, old) == [kept]
    assert await found(client, new) == [edited]


HOSTILE = [
    "",
    "   ",
    '"',
    '"""',
    '"unclosed phrase',
    "#",
    "@",
    "# @ * ? !",
    "a OR b",
    "-not",
    "foo & bar | !baz <-> qux",
    "'; DROP TABLE tweets; --",
    "\\",
    "*",
    "title:foo AND (bar OR baz)",
    "🙂 #🙂 @🙂",
    "x" * 500,
    " ".join(["#a", "@b", '"c d"'] * 60)[:500],
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_any_query_gives_results_or_none(client: httpx.AsyncClient, query: str) -> None:
    for operation in (SEARCH, USERS):
        data = await ok(client, operation, {"q": query, "first": 5})
        assert isinstance(next(iter(data.values()))["edges"], list)


async def test_nul_and_lone_surrogates_read_as_spaces(client: httpx.AsyncClient) -> None:
    """Characters no PostgreSQL text can hold are no server error (found by test_fuzz.py)."""
    author = await register(client)
    word = made_up()
    tweet = await post(client, author, f"{word} #{word}")
    for query, expected in [
        ("\x00", []),
        ("\ud800", []),
        (f"{word}\x00", [tweet]),
        (f"\udfff{word}", [tweet]),
        (f"#{word}\x00", [tweet]),
        (f"{author.handle}\x00", None),
    ]:
        for operation in (SEARCH, USERS):
            body = json.dumps({"query": operation, "variables": {"q": query}})  # escaped
            response = await client.post(
                "/graphql", content=body, headers={"content-type": "application/json"}
            )
            if any("\ud800" <= char <= "\udfff" for char in query):
                # no text holds a lone surrogate: the JSON parser refuses it (test_hostile_input)
                assert response.status_code == 400, (query, response.text)
                assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
                continue
            assert "errors" not in response.json(), (query, response.text)
            if operation == SEARCH and expected is not None:
                edges = response.json()["data"]["searchTweets"]["edges"]
                assert [edge["node"]["id"] for edge in edges] == expected, query
            if operation == USERS and expected is None:
                edges = response.json()["data"]["searchUsers"]["edges"]
                assert edges[0]["node"]["handle"] == author.handle


async def test_overlong_queries_and_bad_pages_are_refused(client: httpx.AsyncClient) -> None:
    for operation in (SEARCH, USERS):
        assert await error_code(client, operation, {"q": "x" * 501}) == "BAD_USER_INPUT"
        assert await error_code(client, operation, {"q": "x", "first": 0}) == "BAD_USER_INPUT"
        assert await error_code(client, operation, {"q": "x", "after": "nope"}) == "BAD_USER_INPUT"
    assert await error_code(client, TRENDS, {"limit": 0}) == "BAD_USER_INPUT"


async def test_users_by_handle_and_name_best_match_first(client: httpx.AsyncClient) -> None:
    stem = "s" + uuid.uuid4().hex[:8]
    for handle, name in [
        (f"{stem}x", "Someone"),
        (stem, "Exact Handle"),
        (f"zz{stem}", f"{stem} by name"),
        (f"{stem}longer", "Someone else"),
        (f"q{uuid.uuid4().hex[:8]}", "Unrelated"),
    ]:
        await ok(client, REGISTER_NAMED, {"handle": handle, "name": name})
    data = await ok(client, USERS, {"q": f"@{stem.upper()}"})
    handles = [edge["node"]["handle"] for edge in data["searchUsers"]["edges"]]
    assert handles[0] == stem  # exact handle
    assert set(handles[1:3]) == {f"{stem}x", f"{stem}longer"}  # handle prefix
    assert handles[3] == f"zz{stem}"  # name prefix
    assert len(handles) == 4
    typo = stem[:4] + stem[5] + stem[4] + stem[6:] + "x"  # two letters swapped
    data = await ok(client, USERS, {"q": typo})
    assert f"{stem}x" in [edge["node"]["handle"] for edge in data["searchUsers"]["edges"]]
    paged, after = [], None
    while True:
        page = (await ok(client, USERS, {"q": stem, "first": 1, "after": after}))["searchUsers"]
        paged += [edge["node"]["handle"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == handles


async def trend_counts(client: httpx.AsyncClient, tags: list[str]) -> dict[str, int]:
    data = await ok(client, TRENDS, {"limit": 50})
    counts = {trend["tag"]: trend["tweetCount"] for trend in data["trendingHashtags"]}
    return {tag: counts.get(tag, 0) for tag in tags}


async def test_trending_hashtags_count_once_forget_deleted_and_rebuild(
    client: httpx.AsyncClient, settle: Settle, app: Starlette
) -> None:
    author, hot, warm = await register(client), made_up(), made_up()
    hot_tweets = [await post(client, author, f"#{hot} number {n} #{hot}") for n in range(6)]
    await post(client, author, f"#{warm} #{hot.upper()} and #{warm} once")
    await settle()
    await settle()  # a job run twice counts once
    assert await trend_counts(client, [hot, warm]) == {hot: 7, warm: 1}
    await ok(client, DELETE, {"id": hot_tweets[0]}, token=author.token)
    await settle()
    redis = app.state.redis
    top = [key async for key in redis.scan_iter("{trend}:top:*")]
    await redis.delete(*top)  # the summed window is reused for a few seconds
    assert await trend_counts(client, [hot, warm]) == {hot: 6, warm: 1}
    trend_keys = [key async for key in redis.scan_iter("{trend}:*")]
    await redis.delete(*trend_keys)  # Redis lost them: counted again from the database
    await trend_counts(client, [hot, warm])  # answers at once, and starts the count
    assert await rebuilt(redis)
    await _drop_top(redis)
    assert await trend_counts(client, [hot, warm]) == {hot: 6, warm: 1}
    data = await ok(client, TRENDS, {})
    counts = [trend["tweetCount"] for trend in data["trendingHashtags"]]
    assert len(counts) <= 10 and counts == sorted(counts, reverse=True)


async def _drop_top(redis: aioredis.Redis) -> None:
    """Forgets the summed window (kept a few seconds), when one was kept: an empty sum is none."""
    top = [key async for key in redis.scan_iter("{trend}:top:*")]
    if top:
        await redis.delete(*top)


async def rebuilt(redis: aioredis.Redis) -> bool:
    """Whether the background count of the trend window finished within a few seconds."""
    for _ in range(200):
        if await redis.exists(trends.BUILT) and not await redis.exists("{trend}:building"):
            return True
        await asyncio.sleep(0.025)
    return False


async def test_a_read_never_waits_for_the_trends_to_be_counted_again(
    client: httpx.AsyncClient, settle: Settle, app: Starlette
) -> None:
    author, tag = await register(client), made_up()
    await post(client, author, f"#{tag} counted")
    await settle()
    redis = app.state.redis
    await redis.delete(*[key async for key in redis.scan_iter("{trend}:*")])
    await redis.set("{trend}:building", "1", ex=60)  # another process is counting, and slow
    # before: the request polled up to 300 s for the other process
    counts = await asyncio.wait_for(trend_counts(client, [tag]), timeout=5)
    assert counts == {tag: 0}  # what the buckets hold meanwhile
    await redis.delete("{trend}:building")  # that process died: the next read counts again
    await trend_counts(client, [tag])
    assert await rebuilt(redis)
    await _drop_top(redis)
    assert await trend_counts(client, [tag]) == {tag: 1}


async def test_an_edit_moves_the_tweet_to_its_new_hashtags(
    client: httpx.AsyncClient, settle: Settle, app: Starlette
) -> None:
    author, old, new, kept = await register(client), made_up(), made_up(), made_up()
    tweet = await post(client, author, f"#{old} and #{kept}")
    await post(client, author, f"#{kept} again")
    await settle()
    await ok(client, EDIT, {"id": tweet, "text": f"#{new} and #{kept}"}, token=author.token)
    await settle()
    await settle()  # the edit's job run twice moves it once
    top = [key async for key in app.state.redis.scan_iter("{trend}:top:*")]
    await app.state.redis.delete(*top)
    assert await trend_counts(client, [old, new, kept]) == {old: 0, new: 1, kept: 2}
