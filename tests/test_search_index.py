"""Keeping Meilisearch's indexes: the outbox records that feed them, and their jobs, which do
nothing without SEARCH_URL and fail (to be retried) while Meilisearch does not answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

import httpx
import pytest
from meilisearch_python_sdk.errors import MeilisearchCommunicationError
from sqlalchemy import select

from core.config import Settings
from core.db import Database
from core.ids import expect_global_id
from models import OutboxEvent
from services import accounts, tweets
from services.events import TweetEdited, UserChanged
from services.meili import Meili
from services.stores import Stores
from services.work import Work
from tests.graphql import ok, post, register, unique_handle
from tests.test_cache import EDIT
from tests.test_meili import closed_port
from tests.test_notifications import DELETE
from workers import jobs

Settle = Callable[[], Awaitable[int]]
PROFILE = "mutation($name: String) { updateProfile(input: {displayName: $name}) { handle } }"


async def test_register_profile_and_edit_record_what_search_must_hear(work: Work) -> None:
    user = await accounts.register(
        work, handle=unique_handle(), password="correct horse", display_name=None
    )
    assert work.events == [UserChanged(user.id)]
    await accounts.update_profile(work, user_id=user.id, display_name="New Name", bio=None)
    assert work.events[1:] == [UserChanged(user.id)]
    tweet_id = (
        await tweets.post_tweet(work, author_id=user.id, text="first words", limiter=None)
    ).id
    await tweets.edit_tweet(work, actor_id=user.id, tweet_id=tweet_id, text="second words")
    assert work.events[-1] == TweetEdited(tweet_id)
    await tweets.edit_tweet(work, actor_id=user.id, tweet_id=tweet_id, text="second words")
    assert work.events[-1] == TweetEdited(tweet_id)  # the same text is no edit: nothing more
    assert len(work.events) == 4


async def test_the_jobs_run_through_the_outbox_without_search_url(
    client: httpx.AsyncClient, settle: Settle, db: Database
) -> None:
    author = await register(client)  # a user.changed record, with nobody signed in yet
    tweet = await post(client, author, "indexed words")
    await ok(client, EDIT, {"id": tweet, "text": "edited words"}, token=author.token)
    await ok(client, PROFILE, {"name": "Indexed Name"}, token=author.token)
    assert await settle() >= 4
    async with db.read() as connection:
        left = await connection.scalars(select(OutboxEvent.topic))
        assert list(left) == []


async def test_without_search_url_the_profile_job_reads_nothing(settings: Settings) -> None:
    stores = Stores.connect(settings)
    assert stores.search is None  # tweet.posted and tweet.removed only count and fan out
    no_database = dataclasses.replace(
        stores, db=Database.connect(f"postgresql+asyncpg://nobody@127.0.0.1:{closed_port()}/none")
    )
    try:  # it drops the cached profile (Redis) and asks the database nothing
        await jobs.run(no_database, "user.changed", {"user_id": 1})
    finally:
        await no_database.db.dispose()
        await stores.close()


async def test_while_meilisearch_is_down_the_jobs_fail_to_be_retried(
    client: httpx.AsyncClient, settle: Settle, settings: Settings
) -> None:
    author = await register(client)
    kept = await post(client, author, "waiting for search")
    deleted = await post(client, author, "deleted while search was down")
    await ok(client, DELETE, {"id": deleted}, token=author.token)
    await settle()
    author_id, kept_id = expect_global_id(author.id, "User"), expect_global_id(kept, "Tweet")
    down = dataclasses.replace(settings, search_url=f"http://127.0.0.1:{closed_port()}")
    stores = Stores.connect(down, pool_size=2)
    try:
        assert isinstance(stores.search, Meili)
        for topic, payload in [
            ("tweet.posted", {"tweet_id": kept_id}),
            ("tweet.edited", {"tweet_id": kept_id}),
            ("tweet.removed", {"tweets": [[expect_global_id(deleted, "Tweet"), author_id]]}),
            ("user.changed", {"user_id": author_id}),
        ]:
            with pytest.raises(MeilisearchCommunicationError):
                await jobs.run(stores, topic, payload)
    finally:
        await stores.close()
