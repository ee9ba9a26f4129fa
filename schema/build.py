"""The served schema: root types wired to the resolvers."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from core.errors import is_unexpected
from resolvers import accounts, graph, nodes, tweets
from schema.relay import Node
from schema.scalars import DATETIME
from schema.tweets import Tweet, TweetConnection
from schema.users import User

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


@strawberry.type(description="Everything that changes state.")
class Mutation:
    register: accounts.AuthPayload = strawberry.mutation(
        resolver=accounts.register, description="Creates an account and signs it in."
    )
    login: accounts.AuthPayload = strawberry.mutation(
        resolver=accounts.login, description="Signs in with a handle and password."
    )
    update_profile: User = strawberry.mutation(
        resolver=accounts.update_profile, description="Changes the viewer's profile."
    )
    create_tweet: Tweet = strawberry.mutation(
        resolver=tweets.create_tweet,
        description="Posts a tweet, or a reply with replyToId.",
    )
    edit_tweet: Tweet = strawberry.mutation(
        resolver=tweets.edit_tweet,
        description="Author only, within the edit window and edit limit (CONTRACT.md).",
    )
    delete_tweet: strawberry.ID = strawberry.mutation(
        resolver=tweets.delete_tweet,
        description="Author only. Returns the deleted tweet's id.",
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
    follow: User = strawberry.mutation(
        resolver=graph.follow, description="Idempotent. Returns the followed user."
    )
    unfollow: User = strawberry.mutation(
        resolver=graph.unfollow, description="Idempotent. Returns the unfollowed user."
    )


class Schema(strawberry.Schema):
    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        for error in errors:
            original = error.original_error
            if original is not None and is_unexpected(error):
                request_id = getattr(getattr(execution_context, "context", None), "request_id", "-")
                logger.error(
                    "unexpected error in %s (request %s)",
                    error.path,
                    request_id,
                    exc_info=(type(original), original, original.__traceback__),
                )


def build_schema(**options: Any) -> Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        types=[User, Tweet],
        config=StrawberryConfig(scalar_map={datetime: DATETIME}),
        extensions=[
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
        ],
        **options,
    )


schema = build_schema()
