"""Search on a real Meilisearch server, fed by the outbox jobs, checked against PostgreSQL.

Runs when SEARCH_URL (and SEARCH_API_KEY, if the server has a master key) is set, and is
skipped otherwise, even with REQUIRE_SERVICES=1: Meilisearch is the one service the suite may
do without, since no package registry this machine reaches ships its server. Each session
uses indexes of its own, deleted at the end.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from core.config import Settings
from core.db import Database, RequestReads
from core.ids import expect_global_id
from services import reindex
from services.meili import TWEET_INDEX, USER_INDEX, Meili, split_id, tweet_search
from services.search import Terms
from services.search_backends import PostgresSearch
from services.stores import Stores
from tests.conftest import run_pending_jobs
from tests.graphql import ok, post, register, unique_handle
from tests.test_cache import EDIT
from tests.test_notifications import DELETE
from tests.test_search import HOSTILE, made_up
from tests.test_social import RETWEET

SEARCH_URL = os.environ.get("SEARCH_URL", "")
if not SEARCH_URL:
    pytest.skip(
        "SEARCH_URL is unset: Meilisearch's tests need a server (README, 'Meilisearch')",
        allow_module_level=True,
    )

Index = Callable[[], Awaitable[None]]
PROFILE = "mutation($name: String) { updateProfile(input: {displayName: $name}) { handle } }"


@pytest.fixture(scope="module")
async def meili() -> AsyncIterator[Meili]:
    backend = Meili(
        SEARCH_URL, os.environ.get("SEARCH_API_KEY") or None, prefix=f"test_{uuid.uuid4().hex[:8]}_"
    )
    for task in await backend.ready():
        await backend.wait(task)
    yield backend
    for index in (TWEET_INDEX, USER_INDEX):
        await backend.client.delete_index_if_exists(backend.index_uid(index))
    await backend.close()


async def applied(meili: Meili) -> None:
    """Until Meilisearch has applied every task of this session's indexes, none failed."""
    uids = [meili.index_uid(TWEET_INDEX), meili.index_uid(USER_INDEX)]
    latest = await meili.client.get_tasks(index_ids=uids, limit=1)  # the newest first
    if latest.results:  # Meilisearch runs its tasks in order
        await meili.client.wait_for_task(latest.results[0].uid, timeout_in_ms=60_000)
    failed = await meili.client.get_tasks(index_ids=uids, statuses=["failed"])
    assert not failed.results, failed.results


@pytest.fixture
async def index_now(settings: Settings, meili: Meili) -> AsyncIterator[Index]:
    """Runs the pending outbox jobs as a worker with SEARCH_URL would, then waits for them."""
    stores = Stores(
        db=Database.connect(settings.database_url or "", pool_size=2),
        redis=aioredis.from_url(settings.redis_url or ""),
        settings=dataclasses.replace(settings, search_url=SEARCH_URL),
        search=meili,
    )

    async def run() -> None:
        await run_pending_jobs(stores)
        await applied(meili)

    yield run
    await stores.redis.aclose()
    await stores.db.dispose()


@pytest.fixture
async def reads(db: Database) -> AsyncIterator[RequestReads]:
    connection_holder = RequestReads(db)
    yield connection_holder
    await connection_holder.close()


async def found(meili: Meili, reads: RequestReads, query: str, first: int = 100) -> list[int]:
    """What Meilisearch finds, after checking that PostgreSQL finds the same."""
    page = await meili.tweets(reads, query=query, first=first, after=None)
    expected = await PostgresSearch().tweets(reads, query=query, first=first, after=None)
    assert page.node_ids == expected.node_ids, query
    return page.node_ids


def tweet_id(global_id: str) -> int:
    return expect_global_id(global_id, "Tweet")


async def test_words_phrases_tags_and_mentions_as_on_postgresql(
    client: httpx.AsyncClient, meili: Meili, reads: RequestReads, index_now: Index
) -> None:
    author, mentioned = await register(client), await register(client)
    word = made_up()
    first = await post(client, author, f"alpha {word} #Tag{word} hello @{mentioned.handle}")
    second = await post(client, author, f"{word} beta")
    third = await post(client, author, f"beta {word} alpha")
    await index_now()
    one, two, three = tweet_id(first), tweet_id(second), tweet_id(third)
    assert await found(meili, reads, word) == [three, two, one]  # newest first
    assert await found(meili, reads, f"{word.upper()} alpha") == [three, one]
    assert await found(meili, reads, f'"beta {word}"') == [three]  # a phrase: in that order
    assert await found(meili, reads, f"#tag{word}") == [one]
    assert await found(meili, reads, f"@{mentioned.handle.upper()} {word}") == [one]
    assert await found(meili, reads, f"#tag{word} beta") == []
    assert await found(meili, reads, f"{word} nosuchword{word}") == []
    assert await found(meili, reads, word[:-2]) == []  # whole words, no prefixes
    assert await found(meili, reads, word[:-1] + "z") == []  # and no typos


async def test_pages_neither_repeat_nor_skip_and_cursors_are_postgresql_s(
    client: httpx.AsyncClient, meili: Meili, reads: RequestReads, index_now: Index
) -> None:
    author, word = await register(client), made_up()
    posted = [tweet_id(await post(client, author, f"{word} number {n}")) for n in range(5)]
    await index_now()
    seen: list[int] = []
    after = None
    while True:
        page = await meili.tweets(reads, query=word, first=2, after=after)
        same = await PostgresSearch().tweets(reads, query=word, first=2, after=after)
        assert (page.node_ids, page.cursors) == (same.node_ids, same.cursors)
        seen += page.node_ids
        if not page.has_next:
            break
        after = page.cursors[-1]
        await post(client, author, f"{word} posted meanwhile")  # newer: not on later pages
        await index_now()
    assert seen == posted[::-1]


async def test_ids_of_one_millisecond_keep_their_order(meili: Meili, reads: RequestReads) -> None:
    """Beyond 2**53, float64 cannot tell these ids apart; the split halves can."""
    tag, base = made_up(), (1 << 62) + (987 << 22)
    ids = [base + n for n in range(5)]
    documents = [
        {"id": str(i), "text": "", "author_id": "1", "hashtags": [tag], "mentions": []}
        | dict(zip(("id_high", "id_low"), split_id(i), strict=True))
        for i in ids
    ]
    await meili.put(TWEET_INDEX, documents)
    await applied(meili)
    seen: list[int] = []
    after = None
    while True:
        page = await meili.tweets(reads, query=f"#{tag}", first=2, after=after)
        seen += page.node_ids
        if not page.has_next:
            break
        after = page.cursors[-1]
    assert seen == ids[::-1]
    await meili.delete(TWEET_INDEX, ids)
    await applied(meili)


async def test_a_hostile_filter_value_matches_nothing_and_breaks_nothing(meili: Meili) -> None:
    tag = made_up()
    document = {"id": "17", "text": "x", "author_id": "1", "hashtags": [tag], "mentions": []}
    await meili.put(TWEET_INDEX, [document | {"id_high": 0, "id_low": 17}])
    await applied(meili)
    for value in [f'{tag}" OR hashtags EXISTS OR hashtags = "', f"{tag}\\", '\\" OR id_low > 0']:
        request = tweet_search(Terms(hashtags=[value]), before=None)
        assert request is not None
        conditions: list[str | list[str]] = [*request.filter]
        hits = await meili.client.index(meili.index_uid(TWEET_INDEX)).search(
            request.query, filter=conditions, sort=request.sort
        )
        assert hits.hits == []
    await meili.delete(TWEET_INDEX, [17])
    await applied(meili)


async def test_deleted_tweets_vanish_and_edited_ones_are_found_by_their_new_text(
    client: httpx.AsyncClient, meili: Meili, reads: RequestReads, index_now: Index
) -> None:
    author, old, new = await register(client), made_up(), made_up()
    kept = await post(client, author, f"{old} kept")
    edited = await post(client, author, f"{old} edited")
    deleted = await post(client, author, f"{old} deleted")
    await ok(client, RETWEET, {"id": kept}, token=(await register(client)).token)  # no text
    await index_now()
    assert await found(meili, reads, old) == [tweet_id(deleted), tweet_id(edited), tweet_id(kept)]
    await ok(client, DELETE, {"id": deleted}, token=author.token)
    await ok(client, EDIT, {"id": edited, "text": f"{new} now"}, token=author.token)
    await ok(client, EDIT, {"id": edited, "text": f"{new} now, twice"}, token=author.token)
    await index_now()
    assert await found(meili, reads, old) == [tweet_id(kept)]
    assert await found(meili, reads, f'"{new} now"') == [tweet_id(edited)]
    assert await found(meili, reads, "twice " + new) == [tweet_id(edited)]


async def test_users_by_handle_and_name(
    client: httpx.AsyncClient, meili: Meili, reads: RequestReads, index_now: Index
) -> None:
    stem = "s" + uuid.uuid4().hex[:8]
    named = {}
    for handle, name in [
        (f"{stem}x", "Someone"),
        (stem, "Exact Handle"),
        (f"zz{stem}", f"{stem} by name"),
        (f"{stem}longer", "Someone else"),
        (unique_handle("q"), "Unrelated"),
    ]:
        account = await register(client, handle)
        await ok(client, PROFILE, {"name": name}, token=account.token)  # indexed again
        named[handle] = expect_global_id(account.id, "User")
    await index_now()
    page = await meili.users(reads, query=f"@{stem.upper()}", first=10, after=None)
    assert page.node_ids[0] == named[stem]
    assert set(page.node_ids) == {
        named[h] for h in (stem, f"{stem}x", f"zz{stem}", f"{stem}longer")
    }
    paged: list[int] = []
    after = None
    while True:
        one = await meili.users(reads, query=stem, first=1, after=after)
        paged += one.node_ids
        if not one.has_next:
            break
        after = one.cursors[-1]
    assert paged == page.node_ids


@pytest.mark.parametrize("query", HOSTILE)
async def test_any_query_gives_results_or_none(
    meili: Meili, reads: RequestReads, query: str
) -> None:
    for search in (meili.tweets, meili.users):
        page = await search(reads, query=query, first=5, after=None)
        assert isinstance(page.node_ids, list)


async def test_reindex_copies_the_database(
    client: httpx.AsyncClient, db: Database, meili: Meili, reads: RequestReads, tmp_path: Path
) -> None:
    author, word = await register(client), made_up()
    posted = [tweet_id(await post(client, author, f"{word} {n}")) for n in range(3)]
    checkpoint = reindex.Checkpoint(tmp_path / "checkpoint.json", target=SEARCH_URL)
    checkpoint.save("tweets", posted[0] - 1)  # the older tweets: done
    async with db.read() as connection:
        copied = await reindex.copy(
            connection, meili, reindex.TABLES[1], checkpoint, batch=2, progress=False
        )
    await applied(meili)
    assert copied >= 3
    assert await found(meili, reads, word) == posted[::-1]
