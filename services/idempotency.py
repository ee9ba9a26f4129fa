"""Idempotency keys: a createTweet sent again with the same key posts nothing new.

CONTRACT.md "Retries": the same user sending the same key again within KEPT gets the first
result; the same key with another request is CONFLICT. The key is stored with the tweet, in the
same transaction (services/tweets.py `post_tweet`), under the primary key (user, key): a second
request with the key waits on the first one's row until that one ends, then answers its tweet
if it committed, or posts, as new, if it failed (a failed request stored nothing). A key older
than KEPT is ignored (claimed again, as new), and purged by the outbox job of a later tweet
(workers/jobs.py), a batch at a time.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import timedelta

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from core.errors import BadUserInput, Conflict
from models import IdempotencyKey
from services.work import Work

KEY_MAX = 64
KEPT_HOURS = 24
KEPT = timedelta(hours=KEPT_HOURS)
PURGE_BATCH = 1000


def check_key(key: str) -> str:
    if not 1 <= len(key) <= KEY_MAX or any(unicodedata.category(ch) == "Cc" for ch in key):
        raise BadUserInput(
            f"An idempotency key is 1 to {KEY_MAX} characters, none of them a control character."
        )
    return key


def request_hash(*request: str | int | None) -> bytes:
    """What a request asked, to tell a retry (the same) from another use of its key."""
    return hashlib.sha256(json.dumps(request).encode()).digest()


async def claim(work: Work, *, user_id: int, key: str, request: bytes, tweet_id: int) -> int:
    """The tweet the key stands for: `tweet_id`, claimed now, or the tweet an earlier request
    with the key posted within KEPT; CONFLICT when that request asked something else."""
    expired = IdempotencyKey.created_at < func.now() - KEPT
    new = insert(IdempotencyKey).values(
        user_id=user_id, key=key, request_hash=request, tweet_id=tweet_id
    )
    claimed = await work.session.scalar(
        new.on_conflict_do_update(
            index_elements=[IdempotencyKey.user_id, IdempotencyKey.key],
            set_={
                "request_hash": new.excluded.request_hash,
                "tweet_id": new.excluded.tweet_id,
                "created_at": func.now(),
            },
            where=expired,
        ).returning(IdempotencyKey.tweet_id)
    )
    if claimed is not None:
        return int(claimed)
    first = (
        await work.session.execute(
            select(IdempotencyKey.request_hash, IdempotencyKey.tweet_id).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        )
    ).one()
    if first.request_hash != request:
        raise Conflict("This idempotency key was sent with another tweet.")
    posted: int = first.tweet_id
    return posted


async def purge(work: Work, *, limit: int = PURGE_BATCH) -> int:
    """Deletes up to `limit` keys older than KEPT, oldest first; skips those another
    transaction holds. Returns how many went."""
    expired = (
        select(IdempotencyKey.user_id, IdempotencyKey.key)
        .where(IdempotencyKey.created_at < func.now() - KEPT)
        .order_by(IdempotencyKey.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await work.session.execute(
        delete(IdempotencyKey).where(
            tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_(expired)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
