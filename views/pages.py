"""The lists readers page through, each read one way for GraphQL connections and REST lists:
the page of ids from its service, then the views of its entries, each kind in one batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from core.pagination import Page
from services import home, notifications, timelines
from views.notifications import NotificationView
from views.notifications import notifications as notification_views
from views.tweets import TweetView, tweets

if TYPE_CHECKING:
    from schema.context import Context

T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """A page's entries that still exist, each with the cursor that resumes after it."""

    entries: list[tuple[str, T]]
    page: Page

    @property
    def next_cursor(self) -> str | None:
        return self.page.cursors[-1] if self.page.has_next and self.page.cursors else None


async def tweet_page(context: Context, page: Page) -> Listed[TweetView]:
    found = await tweets(context.loaders, page.node_ids)
    return Listed(_present(page, found), page)


async def user_page(context: Context, page: Page) -> Listed[Any]:
    found = await context.loaders.users.load_many(page.node_ids)
    return Listed(_present(page, found), page)


async def home_timeline(
    context: Context, *, first: int | None, after: str | None
) -> Listed[TweetView]:
    viewer_id = context.viewer()
    async with context.reads.connection() as connection:
        page = await home.home_timeline(
            connection,
            context.redis,
            viewer_id=viewer_id,
            first=first,
            after=after,
            settings=context.settings,
        )
    return await tweet_page(context, page)


Lister = Callable[..., Awaitable[Page]]


async def _listed(context: Context, list_page: Lister, **arguments: Any) -> Page:
    connection: AsyncConnection
    async with context.reads.connection() as connection:
        return await list_page(connection, **arguments)


async def user_tweets(
    context: Context, *, user_id: int, first: int | None, after: str | None
) -> Listed[TweetView]:
    page = await _listed(context, timelines.user_tweets, user_id=user_id, first=first, after=after)
    return await tweet_page(context, page)


async def user_likes(
    context: Context, *, user_id: int, first: int | None, after: str | None
) -> Listed[TweetView]:
    page = await _listed(context, timelines.user_likes, user_id=user_id, first=first, after=after)
    return await tweet_page(context, page)


async def replies(
    context: Context, *, tweet_id: int, first: int | None, after: str | None
) -> Listed[TweetView]:
    page = await _listed(context, timelines.replies, tweet_id=tweet_id, first=first, after=after)
    return await tweet_page(context, page)


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


async def search_tweets(
    context: Context, *, query: str, first: int | None, after: str | None
) -> Listed[TweetView]:
    page = await context.search.tweets(context.reads, query=query, first=first, after=after)
    return await tweet_page(context, page)


async def search_users(
    context: Context, *, query: str, first: int | None, after: str | None
) -> Listed[Any]:
    page = await context.search.users(context.reads, query=query, first=first, after=after)
    return await user_page(context, page)


async def notification_page(
    context: Context, *, first: int | None, after: str | None
) -> Listed[NotificationView]:
    viewer_id = context.viewer()
    page = await _listed(context, notifications.page, viewer_id=viewer_id, first=first, after=after)
    found = await notification_views(context.loaders, viewer_id, page.node_ids)
    return Listed(_present(page, found), page)


def _present(page: Page, found: list[T | None]) -> list[tuple[str, T]]:
    return [
        (cursor, item) for cursor, item in zip(page.cursors, found, strict=True) if item is not None
    ]
