"""Search over tweets and users (PostgreSQL or Meilisearch, services/search_backends.py), and
trending hashtags."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.context import Info
from schema.relay import AFTER, FIRST
from schema.tweets import TweetConnection
from schema.users import UserConnection
from services import search, trends
from views import pages

_QUERY = (
    f'Any text of at most {search.QUERY_MAX} characters: words, "quoted phrases", #hashtags '
    "and @handles, all required."
)
_LIMIT = f"1 to {trends.LIMIT_MAX}; null means 10."
Query = Annotated[str, strawberry.argument(description=_QUERY)]
First = Annotated[int | None, strawberry.argument(description=FIRST)]
After = Annotated[str | None, strawberry.argument(description=AFTER)]


@strawberry.type(description="A hashtag and how much it was used in the trend window.")
class HashtagTrend:
    tag: str = strawberry.field(description="Lower-case, without the #.")
    tweet_count: int = strawberry.field(
        description="Tweets that used the tag inside the trend window."
    )


async def search_tweets(
    info: Info, query: Query, first: First = 20, after: After = None
) -> TweetConnection:
    listed = await pages.search_tweets(info.context, query=query, first=first, after=after)
    return TweetConnection.of(listed)


async def search_users(
    info: Info, query: Query, first: First = 20, after: After = None
) -> UserConnection:
    listed = await pages.search_users(info.context, query=query, first=first, after=after)
    return UserConnection.of(listed)


async def trending_hashtags(
    info: Info,
    limit: Annotated[int | None, strawberry.argument(description=_LIMIT)] = 10,
) -> list[HashtagTrend]:
    context = info.context
    found = await trends.trending(
        context.db,
        context.redis,
        limit=10 if limit is None else limit,
        window_hours=context.settings.trend_window_hours,
    )
    return [HashtagTrend(tag=trend.tag, tweet_count=trend.tweet_count) for trend in found]
