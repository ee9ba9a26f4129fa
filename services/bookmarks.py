"""Bookmarks: private to their owner, idempotent, newest bookmark first."""

from __future__ import annotations

from sqlalchemy import BigInteger, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core import ids
from core.pagination import Keyset, Page
from models import Bookmark
from services.events import BookmarkChanged
from services.tweets import original
from services.work import Work

BOOKMARKS = "bookmark"  # the cursor scope: keyed by the bookmark's own id


async def bookmark_tweet(work: Work, *, actor_id: int, tweet_id: int) -> int:
    """Bookmarks the tweet (the original, when given a retweet); returns its id. No block
    check: nobody but the actor ever sees a bookmark (the list hides blocked accounts)."""
    tweet_id, _ = await original(work.session, tweet_id)
    bookmark_id = ids.new_id()
    inserted = await work.session.scalar(
        insert(Bookmark)
        .values(
            user_id=actor_id,
            tweet_id=tweet_id,
            id=bookmark_id,
            created_at=ids.snowflake_time(bookmark_id),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "tweet_id"])
        .returning(Bookmark.id)
    )
    if inserted is not None:
        work.record(BookmarkChanged(tweet_id, actor_id, bookmarked=True))
    return tweet_id


async def unbookmark_tweet(work: Work, *, actor_id: int, tweet_id: int) -> int:
    tweet_id, _ = await original(work.session, tweet_id)
    removed = await work.session.scalar(
        delete(Bookmark)
        .where(Bookmark.user_id == actor_id, Bookmark.tweet_id == tweet_id)
        .returning(Bookmark.id)
    )
    if removed is not None:
        work.record(BookmarkChanged(tweet_id, actor_id, bookmarked=False))
    return tweet_id


async def page(
    connection: AsyncConnection, *, viewer_id: int, first: int | None, after: str | None
) -> Page:
    """The viewer's bookmarked tweets, newest bookmark first (a deleted tweet's bookmark goes
    with it: the foreign key cascades)."""
    return await _BOOKMARKED.page(connection, first=first, after=after, viewer=viewer_id)


_BOOKMARKED = Keyset(
    select(Bookmark.id, Bookmark.tweet_id).where(
        Bookmark.user_id == bindparam("viewer", type_=BigInteger)
    ),
    key=Bookmark.id,
    scope=BOOKMARKS,
)
