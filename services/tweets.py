"""Tweets: posting, editing, deleting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core import ids
from core.errors import Conflict, Forbidden, NotFound
from core.text import clean_text, hashtags, mentions
from dataloaders.loaders import TWEET_COLUMNS, TWEET_ROWS, USER_COLUMNS, USER_ROWS
from models import Tweet, TweetVersion, User
from services import idempotency, media, outbox, reach
from services.events import Event, MediaRemoved, TweetEdited, TweetPosted, TweetRemoved
from services.rate_limits import TWEETS, Limiter
from services.work import Work

TWEET_MAX = 280


@dataclass(frozen=True, slots=True)
class Posted:
    """What post_tweet did: the tweet's id and, when it posted the tweet now, the rows of the
    tweet, its author and its images as it left them (the columns the loaders read), which
    the answer is made of (views/tweets.py `posted`); None when an earlier request with the
    same idempotency key posted it."""

    id: int
    row: Any = None  # a TweetRow, as the loaders read it (dataloaders/loaders.py)
    author: Any = None  # a UserRow
    media: tuple[Any, ...] = ()  # its images in order (MediaRows)


def _clean(text: str, *, allow_empty: bool = False) -> str:
    return clean_text(text, field="text", max_length=TWEET_MAX, allow_empty=allow_empty)


async def post_tweet(
    work: Work,
    *,
    author_id: int,
    text: str,
    reply_to_id: int | None = None,
    limiter: Limiter | None,
    idempotency_key: str | None = None,
    media_ids: Sequence[int] = (),
) -> Posted:
    """Posts a tweet or a reply. With a limiter (None: imports and tests of other rules), each
    post counts against the author's createTweet limit, once the input is known to be good.
    With an idempotency key, a request the author made before with it (services/idempotency.py)
    is answered with its tweet: nothing posted, nothing counted, even if its reply's parent has
    gone since. The images of `media_ids` (services/media.py) are attached in that order; with
    them, the text may be empty."""
    media_ids = media.check_ids(media_ids)
    text = _clean(text, allow_empty=bool(media_ids))
    session = work.session
    tweet_id = ids.new_id()
    if idempotency_key is not None:
        first = await idempotency.claim(
            work,
            user_id=author_id,
            key=idempotency.check_key(idempotency_key),
            request=idempotency.request_hash(text, reply_to_id, *media_ids),
            tweet_id=tweet_id,
        )
        if first != tweet_id:
            return Posted(first)
    if reply_to_id is not None:
        reply_to_id, parent_author = await original(session, reply_to_id)
        await reach.ensure_can_reach(session, author_id, parent_author)
    if limiter is not None:
        await limiter.enforce(TWEETS, str(author_id), rate=limiter.tweets)
    if reply_to_id is not None:
        await adjust_counts(session, reply_to_id, reply_count=+1)
    values = {
        "id": tweet_id,
        "author_id": author_id,
        "text": text,
        "created_at": ids.snowflake_time(tweet_id),
        "reply_to_id": reply_to_id,
        "hashtags": hashtags(text),
        "mentions": mentions(text),
    }
    event = TweetPosted(tweet_id, author_id=author_id, reply_to_id=reply_to_id)
    row, author = await _inserted(session, values, work.store_with(event))
    images = await media.attach(work, owner_id=author_id, tweet_id=tweet_id, media_ids=media_ids)
    return Posted(tweet_id, row, author, images)


async def _inserted(
    session: AsyncSession, values: dict[str, Any], pending: list[Event]
) -> tuple[Any, Any]:
    """Inserts the tweet, counts it in its author's row and keeps the events in the outbox, in
    one statement; the rows of the tweet and its author as it left them."""
    tweet = insert(Tweet).values(values).returning(*TWEET_COLUMNS).cte("tweet")
    author = (
        update(User)
        .where(User.id == values["author_id"])
        .values(tweet_count=User.tweet_count + 1)
        .returning(*USER_COLUMNS)
        .cte("author")
    )
    stored, notify = outbox.written(pending)
    both = tweet.join(author, author.c.id == tweet.c.author_id)
    statement = select(tweet, author, notify).select_from(both).add_cte(stored)
    found = (await session.execute(statement)).one()
    split = len(TWEET_COLUMNS)
    tweet_row = TWEET_ROWS.row(*found[:split])
    return tweet_row, USER_ROWS.row(*found[split : split + len(USER_COLUMNS)])


async def edit_tweet(
    work: Work,
    *,
    actor_id: int,
    tweet_id: int,
    text: str,
    window: timedelta = timedelta(minutes=30),
    limit: int = 5,
) -> int:
    text = _clean(text)
    tweet = await _locked(work.session, tweet_id)
    if tweet.author_id != actor_id:
        raise Forbidden("Only the author can edit a tweet.")
    if tweet.retweet_of_id is not None:
        raise Forbidden("A retweet cannot be edited.")
    if text == tweet.text:
        return tweet.id
    now = datetime.now(UTC)
    if now - tweet.created_at > window:
        raise Conflict("The edit window of this tweet has closed.")
    if tweet.edit_count >= limit:
        raise Conflict(f"A tweet can be edited at most {limit} times.")
    work.session.add(
        TweetVersion(
            tweet_id=tweet.id, text=tweet.text, created_at=tweet.edited_at or tweet.created_at
        )
    )
    tweet.text, tweet.edited_at, tweet.edit_count = text, now, tweet.edit_count + 1
    tweet.hashtags, tweet.mentions = hashtags(text), mentions(text)
    await work.session.flush()
    work.record(TweetEdited(tweet.id))
    return tweet.id


async def delete_tweet(work: Work, *, actor_id: int, tweet_id: int) -> int:
    """Deletes the tweet and its retweets; replies stay, no longer replying to anything."""
    session = work.session
    tweet = await _locked(session, tweet_id)
    if tweet.author_id != actor_id:
        raise Forbidden("Only the author can delete a tweet.")
    if tweet.retweet_of_id is not None:
        await adjust_counts(session, tweet.retweet_of_id, retweet_count=-1)
    else:
        await session.execute(
            update(User).where(User.id == actor_id).values(tweet_count=User.tweet_count - 1)
        )
    if tweet.reply_to_id is not None:
        await adjust_counts(session, tweet.reply_to_id, reply_count=-1)
    retweets = select(Tweet.id, Tweet.author_id).where(Tweet.retweet_of_id == tweet.id)
    removed = [
        (tweet.id, actor_id),
        *((r.id, r.author_id) for r in await session.execute(retweets)),
    ]
    files = await media.keys_of_tweet(session, tweet.id)
    await session.execute(delete(Tweet).where(Tweet.id == tweet.id))
    counted = tuple(t for t in (tweet.retweet_of_id, tweet.reply_to_id) if t is not None)
    work.record(TweetRemoved(tuple(removed), counted=counted))
    if files:
        work.record(MediaRemoved(files))
    return tweet.id


async def original(session: AsyncSession, tweet_id: int) -> tuple[int, int]:
    """The id of the tweet itself, or of the tweet it retweets, and its author; NOT_FOUND when
    gone (deleted, or its author suspended: as if deleted)."""
    retweeted = aliased(Tweet)
    author = func.coalesce(retweeted.author_id, Tweet.author_id)
    row = (
        await session.execute(
            select(func.coalesce(Tweet.retweet_of_id, Tweet.id), User.id, User.suspended_at)
            .select_from(Tweet)
            .outerjoin(retweeted, retweeted.id == Tweet.retweet_of_id)
            .join(User, User.id == author)
            .where(Tweet.id == tweet_id)
        )
    ).first()
    if row is None or row.suspended_at is not None:
        raise NotFound("No such tweet.")
    return int(row[0]), int(row[1])


async def _locked(session: AsyncSession, tweet_id: int) -> Tweet:
    tweet = await session.scalar(
        select(Tweet)
        .where(Tweet.id == tweet_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if tweet is None:
        raise NotFound("No such tweet.")
    return tweet


async def adjust_counts(session: AsyncSession, tweet_id: int, **deltas: int) -> None:
    """Adds to the tweet's counters in one UPDATE, so racing writers never lose a change."""
    values = {name: getattr(Tweet, name) + delta for name, delta in deltas.items()}
    await session.execute(update(Tweet).where(Tweet.id == tweet_id).values(**values))
