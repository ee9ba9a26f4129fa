"""Idempotency keys (services/idempotency.py): a createTweet sent again posts nothing twice."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select, text, update

from core.db import Database
from core.ids import expect_global_id
from models import IdempotencyKey, User
from tests import rest
from tests.graphql import Account, error_code, ok, register
from tests.test_work import Settle, count_tweets, until_waiting_for_a_lock

CREATE = """
mutation($i: CreateTweetInput!) { createTweet(input: $i) { id text author { tweetCount } } }
"""


async def _create(client: httpx.AsyncClient, account: Account, **fields: Any) -> Any:
    data = await ok(client, CREATE, {"i": fields}, token=account.token)
    return data["createTweet"]


async def test_the_same_key_again_answers_the_first_tweet_and_posts_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    ann = await register(client)
    first = await _create(client, ann, text="once", idempotencyKey="k-1")
    again = await _create(client, ann, text="once", idempotencyKey="k-1")
    assert again == first and first["author"]["tweetCount"] == 1
    assert await count_tweets(db, ann, "once") == 1
    other = await _create(client, ann, text="once", idempotencyKey="k-2")  # another key: posts
    assert other["id"] != first["id"] and await count_tweets(db, ann, "once") == 2


async def test_the_same_key_with_another_text_or_parent_is_a_conflict(
    client: httpx.AsyncClient, db: Database
) -> None:
    ann = await register(client)
    first = await _create(client, ann, text="first", idempotencyKey="k")
    for fields in ({"text": "second"}, {"text": "first", "replyToId": first["id"]}):
        variables = {"i": {**fields, "idempotencyKey": "k"}}
        assert await error_code(client, CREATE, variables, token=ann.token) == "CONFLICT"
    assert await count_tweets(db, ann, "second") == 0


async def test_keys_are_the_users_own(client: httpx.AsyncClient, db: Database) -> None:
    ann, bob = await register(client), await register(client)
    mine = await _create(client, ann, text="same words", idempotencyKey="shared")
    theirs = await _create(client, bob, text="same words", idempotencyKey="shared")
    assert mine["id"] != theirs["id"] and await count_tweets(db, bob, "same words") == 1


async def test_a_key_must_be_1_to_64_characters_without_control_characters(
    client: httpx.AsyncClient,
) -> None:
    ann = await register(client)
    for key in ["", "k" * 65, "a\x00b", "line\nbreak"]:
        variables = {"i": {"text": "refused", "idempotencyKey": key}}
        assert await error_code(client, CREATE, variables, token=ann.token) == "BAD_USER_INPUT"
    assert (await _create(client, ann, text="kept", idempotencyKey="é" * 64))["text"] == "kept"


async def test_a_first_attempt_that_failed_stored_nothing_so_the_retry_runs_again(
    client: httpx.AsyncClient, db: Database
) -> None:
    ann = await register(client)
    too_long = {"i": {"text": "x" * 281, "idempotencyKey": "again"}}
    assert await error_code(client, CREATE, too_long, token=ann.token) == "BAD_USER_INPUT"
    gone = {"i": {"text": "a reply", "replyToId": "VHdlZXQ6MQ==", "idempotencyKey": "again"}}
    assert await error_code(client, CREATE, gone, token=ann.token) == "NOT_FOUND"
    posted = await _create(client, ann, text="a reply", idempotencyKey="again")
    assert await count_tweets(db, ann, "a reply") == 1
    assert await _create(client, ann, text="a reply", idempotencyKey="again") == posted


async def test_two_requests_with_the_same_key_racing_post_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    ann = await register(client)
    variables = {"i": {"text": "raced", "idempotencyKey": "race"}}
    async with db.transaction() as holding:
        # the author's row held: the first request waits there, its key claimed (not committed)
        author = expect_global_id(ann.id, "User")
        await holding.execute(select(User.id).where(User.id == author).with_for_update())
        first = asyncio.create_task(ok(client, CREATE, variables, token=ann.token))
        await until_waiting_for_a_lock(db)
        second = asyncio.create_task(ok(client, CREATE, variables, token=ann.token))
        await until_waiting_for_a_lock(db, waiters=2)  # the second waits on the first's key
    answers = [data["createTweet"] for data in await asyncio.gather(first, second)]
    assert answers[0] == answers[1]
    assert await count_tweets(db, ann, "raced") == 1


async def test_a_key_older_than_a_day_is_ignored_and_then_purged(
    client: httpx.AsyncClient, db: Database, settle: Settle
) -> None:
    ann = await register(client)
    old = await _create(client, ann, text="yesterday", idempotencyKey="old")
    await _create(client, ann, text="forgotten", idempotencyKey="stale")
    user_id = expect_global_id(ann.id, "User")
    async with db.transaction() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id)
            .values(created_at=func.now() - text("interval '25 hours'"))
        )
    new = await _create(client, ann, text="yesterday", idempotencyKey="old")
    assert new["id"] != old["id"] and await count_tweets(db, ann, "yesterday") == 2
    today = {"i": {"text": "today", "idempotencyKey": "old"}}  # the key stands for the new one
    assert await error_code(client, CREATE, today, token=ann.token) == "CONFLICT"
    await settle()  # the outbox jobs of the new tweets purge the expired keys
    async with db.read() as connection:
        kept = await connection.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.user_id == user_id)
        )
        assert sorted(kept) == ["old"]


async def test_rest_takes_the_idempotency_key_header(
    client: httpx.AsyncClient, db: Database
) -> None:
    ann = await rest.register(client)
    headers = {**rest.bearer(ann), "Idempotency-Key": "rest-1"}
    answers = [
        await client.post(f"{rest.API}/tweets", json={"text": "by REST"}, headers=headers)
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert await count_tweets(db, ann, "by REST") == 1
    other = await client.post(f"{rest.API}/tweets", json={"text": "changed"}, headers=headers)
    assert (other.status_code, other.json()["error"]["code"]) == (409, "CONFLICT")
    headers["Idempotency-Key"] = "k" * 65
    refused = await client.post(f"{rest.API}/tweets", json={"text": "refused"}, headers=headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "BAD_USER_INPUT")


async def test_the_openapi_document_describes_the_header(client: httpx.AsyncClient) -> None:
    document = (await client.get(f"{rest.API}/openapi.json")).json()
    operation = document["paths"]["/tweets"]["post"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and not header["required"]
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 64}
    assert "409" in operation["responses"]
