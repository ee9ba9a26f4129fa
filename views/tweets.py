"""Tweets as a viewer sees them: the row, its author, the viewer's flags, what it retweets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import NotFound
from dataloaders import Loaders
from services.tweets import Posted


@dataclass(frozen=True, slots=True)
class TweetView:
    row: Any  # the tweet's row (dataloaders: TweetRow)
    author: Any  # its author's row (UserRow)
    liked: bool  # by the viewer
    retweeted: bool  # by the viewer
    original: TweetView | None  # what a retweet retweets; None when not a retweet, or gone
    media: tuple[Any, ...] = ()  # its images in order (MediaRows), the same for every viewer

    @property
    def shown_media(self) -> tuple[Any, ...]:
        """What the tweet shows: a plain retweet, the original's images."""
        return self.original.media if self.original is not None else self.media


async def tweets(loaders: Loaders, tweet_ids: list[int]) -> list[TweetView | None]:
    """The tweets with their authors, originals and viewer flags, each kind in one batch
    (None for a missing one), so that no field of a page awaits per tweet."""
    rows = await loaders.tweets.load_many(tweet_ids)
    original_ids = [row.retweet_of_id for row in rows if row is not None and row.retweet_of_id]
    originals = {row.id: row for row in await loaders.tweets.load_many(original_ids) if row}
    every = {row.id: row for row in rows if row is not None} | originals
    keys = list(every)
    authors, liked, retweeted, media = await asyncio.gather(
        loaders.users.load_many([row.author_id for row in every.values()]),
        loaders.viewer_likes.load_many(keys),
        loaders.viewer_retweets.load_many(keys),
        loaders.tweet_media.load_many(keys),
    )
    users = {row.id: row for row in authors if row is not None}
    likes = {key for key, flag in zip(keys, liked, strict=True) if flag}
    retweets = {key for key, flag in zip(keys, retweeted, strict=True) if flag}
    images = dict(zip(keys, media, strict=True))
    return assemble(
        tweet_ids, every, users, likes.__contains__, retweets.__contains__, media=images
    )


async def tweet(loaders: Loaders, tweet_id: int | None) -> TweetView | None:
    if tweet_id is None:
        return None
    (found,) = await tweets(loaders, [tweet_id])
    return found


async def existing(loaders: Loaders, tweet_id: int) -> TweetView:
    """The tweet, or NOT_FOUND: what a mutation answers after its commit (its reads try a fresh
    connection when theirs died: core/db.py)."""
    found = await tweet(loaders, tweet_id)
    if found is None:
        raise NotFound("No such tweet.")
    return found


async def posted(loaders: Loaders, posted: Posted) -> TweetView:
    """What createTweet answers: the tweet as the post left it, read from nowhere (the rows its
    statement returned; a new tweet: nothing liked or retweeted yet, no retweet), and those
    rows in the loaders for the fields below it; read when an earlier request with the same
    idempotency key posted it."""
    if posted.row is None:
        return await existing(loaders, posted.id)
    loaders.tweets.prime(posted.id, posted.row, force=True)
    loaders.users.prime(posted.author.id, posted.author, force=True)
    loaders.viewer_likes.prime(posted.id, False, force=True)
    loaders.viewer_retweets.prime(posted.id, False, force=True)
    loaders.tweet_media.prime(posted.id, posted.media, force=True)
    return TweetView(
        posted.row, posted.author, liked=False, retweeted=False, original=None, media=posted.media
    )


def assemble(
    tweet_ids: list[int],
    rows: dict[int, Any],
    users: dict[int, Any],
    liked: Callable[[int], bool],
    retweeted: Callable[[int], bool],
    *,
    media: Mapping[int, tuple[Any, ...]] | None = None,
) -> list[TweetView | None]:
    """Views from rows already read: the tweets and what they retweet, their authors and
    images. A suspended account's tweets are gone, as if deleted, and so are retweets of
    them."""
    images = media or {}
    built: dict[int, TweetView | None] = {}

    def view(tweet_id: int) -> TweetView | None:
        if tweet_id not in built:
            built[tweet_id] = None
            row = rows.get(tweet_id)
            author = users.get(row.author_id) if row is not None else None
            if row is None or author is None or author.suspended_at is not None:
                return None
            original = view(row.retweet_of_id) if row.retweet_of_id is not None else None
            if row.retweet_of_id is not None and original is None:
                return None  # what it retweets is gone
            built[tweet_id] = TweetView(
                row,
                author,
                liked(tweet_id),
                retweeted(tweet_id),
                original,
                images.get(tweet_id, ()),
            )
        return built[tweet_id]

    return [view(tweet_id) for tweet_id in tweet_ids]
