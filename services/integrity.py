"""What a broken constraint means, in one place.

A write can race another that removed what it points at (a reply committing as its parent is
deleted, a like as its tweet is): PostgreSQL refuses it by a foreign key, and the client is
told that the thing is gone. A constraint not named here (a primary key: two processes minting
the same id) is a bug, never mistaken for bad input: the error goes on as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from core.errors import ApiError, Conflict, NotFound, Unauthenticated


def _gone_tweet() -> ApiError:
    return NotFound("No such tweet.")


def _gone_user() -> ApiError:
    return NotFound("No such user.")


def _gone_actor() -> ApiError:
    return Unauthenticated("This account no longer exists; sign in again.")


_MEANINGS: dict[str, Callable[[], ApiError]] = {
    "fk_tweets_reply_to_id_tweets": _gone_tweet,
    "fk_tweets_retweet_of_id_tweets": _gone_tweet,
    "fk_tweets_quote_of_id_tweets": _gone_tweet,
    "fk_likes_tweet_id_tweets": _gone_tweet,
    "fk_bookmarks_tweet_id_tweets": _gone_tweet,
    "fk_bookmarks_user_id_users": _gone_actor,
    "fk_users_pinned_tweet_id_tweets": _gone_tweet,
    "fk_notifications_tweet_id_tweets": _gone_tweet,
    "fk_follows_followee_id_users": _gone_user,
    "fk_notifications_recipient_id_users": _gone_user,
    "fk_tweets_author_id_users": _gone_actor,
    "fk_likes_user_id_users": _gone_actor,
    "fk_follows_follower_id_users": _gone_actor,
    "fk_notifications_actor_id_users": _gone_actor,
    "fk_blocks_blocked_id_users": _gone_user,
    "fk_mutes_muted_id_users": _gone_user,
    "fk_reports_user_id_users": _gone_user,
    "fk_reports_tweet_id_tweets": _gone_tweet,
    "fk_blocks_blocker_id_users": _gone_actor,
    "fk_mutes_muter_id_users": _gone_actor,
    "fk_muted_words_user_id_users": _gone_actor,
    "fk_reports_reporter_id_users": _gone_actor,
    "fk_idempotency_keys_user_id_users": _gone_actor,
    "uq_users_handle_lower": lambda: Conflict("That handle is taken."),
}


def constraint(error: IntegrityError) -> str | None:
    """The name of the constraint the statement broke (asyncpg's error, under SQLAlchemy's)."""
    name = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None)
    return name if isinstance(name, str) else None


def meaning(error: IntegrityError) -> ApiError | None:
    """The client's error for a broken constraint; None when it means a bug."""
    found = _MEANINGS.get(constraint(error) or "")
    return found() if found is not None else None
