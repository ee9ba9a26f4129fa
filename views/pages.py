"""The lists readers page through, each read one way for GraphQL connections and REST lists:
the page of ids from its service, then the views of its entries, each kind in one batch, less
what the viewer must not see (views/safety.py).

Filtering never makes a page short while visible entries exist below it: past hidden entries
the next raw page is read (each twice as long, up to PAGE_MAX ids), up to SCAN_ROUNDS reads,
after which the page ends early with `has_next` still true. Every entry keeps the cursor it has
in the unfiltered list, so cursors are stable whatever is hidden around them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from core.pagination import PAGE_MAX, Page, check_first
from services import bookmarks, home, notifications, timelines
from views.notifications import NotificationView
from views.notifications import notifications as notification_views
from views.safety import NOBODY, Safety, hidden
from views.tweets import TweetView, tweets

if TYPE_CHECKING:
    from schema.context import Context

T = TypeVar("T")
R = TypeVar("R")
SCAN_ROUNDS = 8
Read = Callable[[str | None, int], Awaitable[Page]]  # (after, how many): a page of raw ids


@dataclass(frozen=True)
class Listed(Generic[T]):
    """A page's entries that still exist and may be shown, each with the cursor that resumes
    after it."""

    entries: list[tuple[str, T]]
    page: Page

    @property
    def next_cursor(self) -> str | None:
        return self.page.cursors[-1] if self.page.has_next and self.page.cursors else None


async def safety(context: Context) -> Safety:
    """The viewer's, read once a request (nobody's when signed out)."""
    if context.viewer_id is None:
        return NOBODY
    found: Safety = await context.loaders.safety.load(context.viewer_id)
    return found


async def _shown(
    context: Context,
    read: Read,
    *,
    first: int | None,
    after: str | None,
    views: Callable[[list[int]], Awaitable[list[T | None]]],
    keep: Callable[[T, Safety], bool],
) -> Listed[T]:
    wanted = check_first(first)
    found = await safety(context)
    entries: list[tuple[str, T]] = []
    cursor, size = after, wanted
    for _ in range(SCAN_ROUNDS):
        page = await read(cursor, size)
        items = await views(page.node_ids)
        entries += [
            (entry_cursor, item)
            for entry_cursor, item in zip(page.cursors, items, strict=True)
            if item is not None and keep(item, found)
        ]
        if len(entries) >= wanted or not page.has_next or not page.cursors:
            break
        cursor, size = page.cursors[-1], min(size * 2, PAGE_MAX)
    shown = entries[:wanted]
    more = len(entries) > wanted or page.has_next
    result = Page(
        node_ids=[item.row.id for _, item in shown],  # type: ignore[attr-defined]
        cursors=[entry_cursor for entry_cursor, _ in shown],
        has_next=more,
        has_previous=after is not None,
    )
    return Listed(shown, result)


async def _tweets(
    context: Context, read: Read, *, first: int | None, after: str | None, home: bool = False
) -> Listed[TweetView]:
    viewer = context.viewer_id

    def keep(view: TweetView, found: Safety) -> bool:
        return not hidden(view, found, viewer_id=viewer, home=home)

    async def views(ids: list[int]) -> list[TweetView | None]:
        return await tweets(context.loaders, ids)

    return await _shown(context, read, first=first, after=after, views=views, keep=keep)


async def user_page(context: Context, page: Page) -> Listed[Any]:
    found = await context.loaders.users.load_many(page.node_ids)
    present = [
        (cursor, row) for cursor, row in zip(page.cursors, found, strict=True) if row is not None
    ]
    return Listed(present, page)


async def home_timeline(
    context: Context, *, first: int | None, after: str | None
) -> Listed[TweetView]:
    viewer_id = context.viewer()

    def on_primary(read: Callable[[AsyncConnection], Awaitable[R]]) -> Awaitable[R]:
        # on the primary: a timeline rebuilt from these reads is kept in Redis (services/home.py)
        return context.reads.run(read, primary=True)

    async def read(cursor: str | None, count: int) -> Page:
        return await home.home_timeline(
            on_primary,
            context.redis,
            viewer_id=viewer_id,
            first=count,
            after=cursor,
            settings=context.settings,
        )

    return await _tweets(context, read, first=first, after=after, home=True)


Lister = Callable[..., Awaitable[Page]]


def _reader(context: Context, list_page: Lister, **arguments: Any) -> Read:
    async def read(cursor: str | None, count: int) -> Page:
        def listed(connection: AsyncConnection) -> Awaitable[Page]:
            return list_page(connection, **arguments, first=count, after=cursor)

        return await context.reads.run(listed)

    return read


async def _listed(context: Context, list_page: Lister, **arguments: Any) -> Page:
    first, after = arguments.pop("first"), arguments.pop("after")
    return await _reader(context, list_page, **arguments)(after, check_first(first))


async def user_tweets(
    context: Context, *, user_id: int, first: int | None, after: str | None
) -> Listed[TweetView]:
    read = _reader(context, timelines.user_tweets, user_id=user_id)
    return await _tweets(context, read, first=first, after=after)


async def user_likes(
    context: Context, *, user_id: int, first: int | None, after: str | None
) -> Listed[TweetView]:
    read = _reader(context, timelines.user_likes, user_id=user_id)
    return await _tweets(context, read, first=first, after=after)


async def replies(
    context: Context, *, tweet_id: int, first: int | None, after: str | None
) -> Listed[TweetView]:
    read = _reader(context, timelines.replies, tweet_id=tweet_id)
    return await _tweets(context, read, first=first, after=after)


async def quotes(
    context: Context, *, tweet_id: int, first: int | None, after: str | None
) -> Listed[TweetView]:
    read = _reader(context, timelines.quotes, tweet_id=tweet_id)
    return await _tweets(context, read, first=first, after=after)


async def bookmarked(
    context: Context, *, first: int | None, after: str | None
) -> Listed[TweetView]:
    read = _reader(context, bookmarks.page, viewer_id=context.viewer())
    return await _tweets(context, read, first=first, after=after)


async def followers(
    context: Context, *, user_id: int, first: int | None, after: str | None
) -> Listed[Any]:
    page = await _listed(context, timelines.followers, user_id=user_id, first=first, after=after)
    return await user_page(context, page)


async def following(
    context: Context, *, user_id: int, first: int | None, after: str | None
) -> Listed[Any]:
    page = await _listed(context, timelines.following, user_id=user_id, first=first, after=after)
    return await user_page(context, page)


async def listed_users(
    context: Context, list_page: Lister, *, first: int | None, after: str | None, **arguments: Any
) -> Listed[Any]:
    """A page of users from a service's list of user ids (blocked, muted...)."""
    page = await _listed(context, list_page, first=first, after=after, **arguments)
    return await user_page(context, page)


async def search_tweets(
    context: Context, *, query: str, first: int | None, after: str | None
) -> Listed[TweetView]:
    async def read(cursor: str | None, count: int) -> Page:
        return await context.search.tweets(context.reads, query=query, first=count, after=cursor)

    return await _tweets(context, read, first=first, after=after)


async def search_users(
    context: Context, *, query: str, first: int | None, after: str | None
) -> Listed[Any]:
    page = await context.search.users(context.reads, query=query, first=first, after=after)
    return await user_page(context, page)


async def notification_page(
    context: Context, *, first: int | None, after: str | None
) -> Listed[NotificationView]:
    viewer_id = context.viewer()
    read = _reader(context, notifications.page, viewer_id=viewer_id)

    def keep(view: NotificationView, found: Safety) -> bool:
        return notified(view, found, viewer_id)

    async def views(ids: list[int]) -> list[NotificationView | None]:
        return await notification_views(context.loaders, viewer_id, ids)

    return await _shown(context, read, first=first, after=after, views=views, keep=keep)


def notified(view: NotificationView, found: Safety, viewer_id: int) -> bool:
    """Whether a notification may be shown: not from an account blocked either way or muted,
    nor about a tweet the home timeline would hide."""
    actor = view.actor.id
    if actor in found.blocked or found.mutes(actor, time.time()):
        return False
    return view.tweet is None or not hidden(view.tweet, found, viewer_id=viewer_id, home=True)
