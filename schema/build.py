"""The served schema: root types wired to the resolvers."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from core.errors import ApiError, format_error, is_unexpected
from resolvers import accounts, graph, live, media, nodes, safety, search, tweets
from resolvers import notifications as inbox
from schema.hooks import HookRunner
from schema.media import Media
from schema.notifications import Notification, NotificationConnection, NotificationEdge
from schema.operation_metrics import OperationMetrics
from schema.query_limits import QueryLimits
from schema.rate_limit import RequestBudget
from schema.relay import Node
from schema.safety import MutedWord, Report, ReportConnection, TimelineRemoval
from schema.scalars import DATETIME
from schema.shared_events import SharedEventExecutor
from schema.tweets import Tweet, TweetConnection, TweetEdge
from schema.users import User, UserConnection
from schema.validation import Validation

logger = logging.getLogger("chirp.graphql")


@strawberry.type(description="Everything that can be read.")
class Query:
    node: Node | None = strawberry.field(
        resolver=nodes.node, description="Any object by its global id; null when none."
    )
    viewer: User | None = strawberry.field(
        resolver=accounts.viewer,
        description="The signed-in user; null when nobody is signed in.",
    )
    user: User | None = strawberry.field(
        resolver=accounts.user, description="Null when no such user."
    )
    tweet: Tweet | None = strawberry.field(
        resolver=tweets.tweet, description="Null when no such tweet or it was deleted."
    )
    home_timeline: TweetConnection = strawberry.field(
        resolver=graph.home_timeline,
        description=(
            "Tweets and retweets by the viewer and everyone the viewer follows, newest first. "
            "Needs sign-in."
        ),
    )
    search_tweets: TweetConnection = strawberry.field(
        resolver=search.search_tweets,
        description=(
            "Full-text search over tweets: words, #hashtags and @handles; most recent first."
        ),
    )
    search_users: UserConnection = strawberry.field(
        resolver=search.search_users,
        description="Users whose handle or display name matches the query, best match first.",
    )
    trending_hashtags: list[search.HashtagTrend] = strawberry.field(
        resolver=search.trending_hashtags,
        description="Hashtags used most in the trend window, most used first.",
    )
    notifications: NotificationConnection = strawberry.field(
        resolver=inbox.notifications_page,
        description="The viewer's notifications, newest first. Needs sign-in.",
    )
    unread_notification_count: int = strawberry.field(
        resolver=inbox.unread_count, description="Needs sign-in."
    )
    bookmarks: TweetConnection = strawberry.field(
        resolver=tweets.bookmarked,
        description="The viewer's bookmarks, most recent bookmark first. Needs sign-in.",
    )
    blocked_users: UserConnection = strawberry.field(
        resolver=safety.blocked_users,
        description="Accounts the viewer blocks, newest block first. Needs sign-in.",
    )
    muted_users: UserConnection = strawberry.field(
        resolver=safety.muted_users,
        description=(
            "Accounts the viewer mutes, newest mute first; lapsed ones are gone. Needs sign-in."
        ),
    )
    muted_words: list[MutedWord] = strawberry.field(
        resolver=safety.muted_words,
        description="The viewer's muted words that have not lapsed, newest first. Needs sign-in.",
    )
    reports: ReportConnection = strawberry.field(
        resolver=safety.reports,
        description=(
            "Moderators only (FORBIDDEN for anyone else): reports with this status, oldest first."
        ),
    )


@strawberry.type(description="Everything that changes state.")
class Mutation:
    register: accounts.AuthPayload = strawberry.mutation(
        resolver=accounts.register, description="Creates an account and signs it in."
    )
    login: accounts.AuthPayload = strawberry.mutation(
        resolver=accounts.login, description="Signs in with a handle and password."
    )
    change_password: accounts.AuthPayload = strawberry.mutation(
        resolver=accounts.change_password,
        description="Sets a new password; every token issued before is revoked. Needs sign-in.",
    )
    update_profile: User = strawberry.mutation(
        resolver=accounts.update_profile, description="Changes the viewer's profile."
    )
    create_tweet: Tweet = strawberry.mutation(
        resolver=tweets.create_tweet,
        description="Posts a tweet, or a reply with replyToId; quotes a tweet with quoteOfId.",
    )
    edit_tweet: Tweet = strawberry.mutation(
        resolver=tweets.edit_tweet,
        description="Author only, within the edit window and edit limit (CONTRACT.md).",
    )
    delete_tweet: strawberry.ID = strawberry.mutation(
        resolver=tweets.delete_tweet,
        description="Author only. Returns the deleted tweet's id.",
    )
    update_media_alt: Media = strawberry.mutation(
        resolver=media.update_media_alt,
        description=(
            "Changes the alt text of an image the viewer uploaded (at most 1,500 characters)."
        ),
    )
    like_tweet: Tweet = strawberry.mutation(
        resolver=tweets.like_tweet, description="Idempotent: liking twice counts once."
    )
    unlike_tweet: Tweet = strawberry.mutation(
        resolver=tweets.unlike_tweet, description="Idempotent."
    )
    retweet: Tweet = strawberry.mutation(
        resolver=tweets.retweet,
        description=(
            "Retweets the tweet (the original, when given a retweet). Idempotent. "
            "Returns the original tweet."
        ),
    )
    undo_retweet: Tweet = strawberry.mutation(
        resolver=tweets.undo_retweet,
        description="Idempotent. Returns the original tweet.",
    )
    bookmark_tweet: Tweet = strawberry.mutation(
        resolver=tweets.bookmark_tweet,
        description="Idempotent. Private to the viewer. Returns the original tweet.",
    )
    unbookmark_tweet: Tweet = strawberry.mutation(
        resolver=tweets.unbookmark_tweet, description="Idempotent. Returns the original tweet."
    )
    pin_tweet: User = strawberry.mutation(
        resolver=tweets.pin_tweet,
        description=(
            "Pins one of the viewer's own tweets (not a retweet), replacing any earlier pin; "
            "null unpins. Returns the viewer."
        ),
    )
    follow: User = strawberry.mutation(
        resolver=graph.follow, description="Idempotent. Returns the followed user."
    )
    unfollow: User = strawberry.mutation(
        resolver=graph.unfollow, description="Idempotent. Returns the unfollowed user."
    )
    block: User = strawberry.mutation(
        resolver=safety.block,
        description=(
            "Idempotent. Removes the follows between the two accounts, both ways. "
            "Returns the blocked user."
        ),
    )
    unblock: User = strawberry.mutation(
        resolver=safety.unblock,
        description="Idempotent. Follows removed by the block are not restored.",
    )
    mute: User = strawberry.mutation(
        resolver=safety.mute,
        description=(
            "Idempotent; a new expiresIn replaces the old one. expiresIn in seconds, at least "
            "60; null: never."
        ),
    )
    unmute: User = strawberry.mutation(resolver=safety.unmute, description="Idempotent.")
    mute_word: MutedWord = strawberry.mutation(
        resolver=safety.mute_word, description="Muting a word already muted replaces its expiry."
    )
    unmute_word: strawberry.ID = strawberry.mutation(
        resolver=safety.unmute_word,
        description="Returns the id of the muted word that was removed.",
    )
    report: Report = strawberry.mutation(
        resolver=safety.report,
        description=(
            "Reporting the same subject again while the first report is open returns that report."
        ),
    )
    resolve_report: Report = strawberry.mutation(
        resolver=safety.resolve_report,
        description=(
            "Moderators only. Resolves this report and every other open report of the same subject."
        ),
    )
    mark_notifications_read: int = strawberry.mutation(
        resolver=inbox.mark_read,
        description=(
            "Marks the viewer's notifications read, up to and including upTo (all when null). "
            "Returns how many changed."
        ),
    )


@strawberry.type(description="What happens, as it happens, over a WebSocket on /graphql.")
class Subscription:
    home_timeline: AsyncGenerator[TweetEdge, None] = strawberry.subscription(
        resolver=live.home_timeline,
        description=(
            "Each tweet or retweet as it enters the viewer's home timeline, the viewer's own "
            "included. With `since` (a cursor from this subscription or from homeTimeline), "
            "the entries newer than it are delivered first, oldest first, then live ones, "
            "with none missed and none repeated."
        ),
    )
    notifications: AsyncGenerator[NotificationEdge, None] = strawberry.subscription(
        resolver=live.notifications_feed,
        description="Each new notification of the viewer; `since` works as for homeTimeline.",
    )
    home_timeline_removals: AsyncGenerator[TimelineRemoval, None] = strawberry.subscription(
        resolver=live.home_timeline_removals,
        description=(
            "Each entry of the viewer's home timeline that leaves it: deleted, its retweet "
            "undone, its author unfollowed, blocked, muted or suspended, or removed by a "
            "moderator; so that a client can drop it from what it shows."
        ),
    )
    tweet_updated: AsyncGenerator[Tweet, None] = strawberry.subscription(
        resolver=live.tweet_updated,
        description="The tweet again whenever its text or counts change.",
    )


class Schema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return HookRunner(execution_context=execution_context, extensions=extensions)

    async def stream(self, *args: Any, **kwargs: Any) -> StreamResult:
        """As Strawberry's, except that a refusal raised before execution (a query limit,
        a syntax error from the parser cache) is the operation's error, not a crash of the
        WebSocket's operation task."""
        return _refusals_as_results(await super().stream(*args, **kwargs))

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        """Logs unexpected errors. On a WebSocket, where no HTTP layer formats the result,
        also turns every error into what clients see: a contract code, nothing internal."""
        context = getattr(execution_context, "context", None)
        for error in errors:
            original = error.original_error
            if is_unexpected(error):
                logger.error(
                    "unexpected error in %s (request %s): %s",
                    error.path,
                    getattr(context, "request_id", "-"),
                    error.message,
                    exc_info=None if original is None else original,
                )
        if getattr(context, "close_socket", None) is not None:
            errors[:] = [_as_client_sees(error) for error in errors]


async def _refusals_as_results(source: StreamResult) -> StreamResult:
    async with aclosing(source):
        try:
            first = await anext(source)
        except StopAsyncIteration:
            return
        except (ApiError, GraphQLError) as refused:
            error = refused if isinstance(refused, GraphQLError) else _graphql_error(refused)
            yield PreExecutionError(data=None, errors=[_as_client_sees(error)])
            return
        yield first
        async for result in source:
            yield result


def _graphql_error(error: ApiError) -> GraphQLError:
    return GraphQLError(error.message, original_error=error)


def _as_client_sees(error: GraphQLError) -> GraphQLError:
    if error.original_error is None and "code" in (error.extensions or {}):
        return error  # already so (a result shared by several subscriptions)
    formatted = format_error(error)
    return GraphQLError(
        formatted["message"],
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=formatted["extensions"],
    )


def build_schema(**options: Any) -> Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[User, Tweet, Media, Notification, MutedWord, Report],
        config=StrawberryConfig(scalar_map={datetime: DATETIME}),
        execution_context_class=SharedEventExecutor,
        extensions=[
            QueryLimits,  # first: its checks come before the cached parse and validation
            lambda: ParserCache(maxsize=1024),
            Validation,  # cached, bounded for hostile documents (schema/validation.py)
            OperationMetrics,
            RequestBudget,  # after the cost estimate: it charges by the estimated cost
        ],
        **options,
    )


schema = build_schema()
