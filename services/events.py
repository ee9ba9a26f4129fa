"""What writes did, as typed events.

A service records an event in its unit of work (services/work.py); the outbox keeps it in the
same transaction (`encode`), and once the commit has landed services/effects.py turns it into
what must follow: at once in the process that committed, and for certain in a worker, which
reads it back from the outbox (`decode`). Fields added later have defaults, so that rows an
older release left in the outbox still decode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, get_type_hints

TweetAuthor = tuple[int, int]  # (tweet id, author id)


@dataclass(frozen=True)
class UserChanged:
    """An account was created, or its profile changed."""

    topic: ClassVar[str] = "user.changed"
    user_id: int


@dataclass(frozen=True)
class PasswordChanged:
    """The user's token generation went up: every earlier token is revoked."""

    topic: ClassVar[str] = "password.changed"
    user_id: int


@dataclass(frozen=True)
class TweetPosted:
    """A tweet, a reply or a retweet was posted."""

    topic: ClassVar[str] = "tweet.posted"
    tweet_id: int
    author_id: int | None = None
    reply_to_id: int | None = None
    retweet_of_id: int | None = None


@dataclass(frozen=True)
class TweetEdited:
    topic: ClassVar[str] = "tweet.edited"
    tweet_id: int


@dataclass(frozen=True)
class TweetRemoved:
    """A tweet was deleted with its retweets, or a retweet undone: `tweets` are the rows gone,
    the deleted one first; `counted` the tweets whose counts went down with them."""

    topic: ClassVar[str] = "tweet.removed"
    tweets: tuple[TweetAuthor, ...]
    counted: tuple[int, ...] = ()


@dataclass(frozen=True)
class TweetLiked:
    topic: ClassVar[str] = "tweet.liked"
    tweet_id: int
    actor_id: int


@dataclass(frozen=True)
class TweetUnliked:
    topic: ClassVar[str] = "tweet.unliked"
    tweet_id: int
    actor_id: int


@dataclass(frozen=True)
class FollowChanged:
    """The follower followed or unfollowed the followee (the state says which)."""

    topic: ClassVar[str] = "follow.changed"
    follower_id: int
    followee_id: int
    following: bool | None = None  # as the change left it (None: an older row's, unsaid)


@dataclass(frozen=True)
class BlockChanged:
    """The blocker blocked or unblocked the other (the state says which)."""

    topic: ClassVar[str] = "block.changed"
    blocker_id: int
    blocked_id: int
    blocking: bool | None = None


@dataclass(frozen=True)
class MuteChanged:
    """The muter muted, unmuted, or changed the expiry of a mute of the other."""

    topic: ClassVar[str] = "mute.changed"
    muter_id: int
    muted_id: int
    muting: bool | None = None


@dataclass(frozen=True)
class MutedWordsChanged:
    topic: ClassVar[str] = "muted_words.changed"
    user_id: int


@dataclass(frozen=True)
class UserSuspended:
    """A moderator suspended the account: its tokens are revoked, its tweets gone from reads;
    `counted` are the others' tweets whose counts its replies and retweets no longer take."""

    topic: ClassVar[str] = "user.suspended"
    user_id: int
    counted: tuple[int, ...] = ()


@dataclass(frozen=True)
class MediaChanged:
    """An image's alt text changed; `tweet_id` is the tweet it is attached to, if any."""

    topic: ClassVar[str] = "media.changed"
    media_id: int
    tweet_id: int | None = None


@dataclass(frozen=True)
class MediaRemoved:
    """Images are gone (their tweet deleted, or never attached): the files named by `keys`
    go too, those that no other image still names (services/media.py)."""

    topic: ClassVar[str] = "media.removed"
    keys: tuple[str, ...]


@dataclass(frozen=True)
class NotificationsCreated:
    topic: ClassVar[str] = "notifications.created"
    notifications: tuple[tuple[int, int], ...]  # (notification id, recipient id)


Event = (
    UserChanged
    | PasswordChanged
    | BlockChanged
    | MuteChanged
    | MutedWordsChanged
    | UserSuspended
    | TweetPosted
    | TweetEdited
    | TweetRemoved
    | TweetLiked
    | TweetUnliked
    | FollowChanged
    | NotificationsCreated
    | MediaChanged
    | MediaRemoved
)
_KINDS: dict[str, type[Event]] = {
    kind.topic: kind
    for kind in (
        UserChanged,
        PasswordChanged,
        BlockChanged,
        MuteChanged,
        MutedWordsChanged,
        UserSuspended,
        TweetPosted,
        TweetEdited,
        TweetRemoved,
        TweetLiked,
        TweetUnliked,
        FollowChanged,
        NotificationsCreated,
        MediaChanged,
        MediaRemoved,
    )
}


def encode(event: Event) -> tuple[str, dict[str, Any]]:
    """The outbox row's topic and JSON payload."""
    return event.topic, asdict(event)


def decode(topic: str, payload: Any) -> Event:
    """The event of an outbox row; ValueError for an unknown topic or a malformed payload."""
    kind = _KINDS.get(topic)
    if kind is None or not isinstance(payload, dict):
        raise ValueError(f"no event {topic!r} with {payload!r}")
    hints = get_type_hints(kind)
    values = {}
    for item in fields(kind):
        if item.name in payload:
            values[item.name] = _value(hints[item.name], payload[item.name], item.name)
    try:
        return kind(**values)
    except TypeError as error:  # a field without a default is missing
        raise ValueError(f"{topic}: {error}") from None


def _value(hint: Any, raw: Any, name: str) -> Any:
    if hint == bool | None:
        if raw is None or isinstance(raw, bool):
            return raw
    elif hint is int or (hint == int | None and raw is not None):
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif hint == int | None:
        return None
    elif isinstance(raw, list):
        if hint == tuple[int, ...]:
            return tuple(_value(int, item, name) for item in raw)
        if hint == tuple[str, ...] and all(isinstance(item, str) for item in raw):
            return tuple(raw)
        if all(isinstance(item, list) and len(item) == 2 for item in raw):
            return tuple((_value(int, a, name), _value(int, b, name)) for a, b in raw)
    raise ValueError(f"{name} is not of type {hint}: {raw!r}")
