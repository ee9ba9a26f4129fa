"""What a viewer must not see (CONTRACT.md, "Safety"), and the one test every read path applies.

A viewer's `Safety` (the accounts blocked either way, the muted ones, the muted words) is read
once a request through the cache (dataloaders: `loaders.safety`), and dropped from it when the
viewer blocks, mutes or mutes a word, or is blocked (services/effects.py). Expiries are kept with
the entries and compared with the clock at each use: a mute lapses by itself, no job runs.

- Everywhere (search, replies, quotes, a user's tweets, home, live, notifications): nothing by an
  account blocked either way, nor a retweet or quote of it.
- Home timeline (Redis, merged, database, live) and notifications also: nothing by a muted
  account or retweeting it, nothing whose text has a muted word (whole, any case) or hashtag.
- The viewer's own tweets are never hidden by mutes or words. Suspended accounts are gone for
  everyone, as if deleted (views/tweets.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CompoundSelect,
    DateTime,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from models import Block, Mute, MutedWord

_VIEWERS = bindparam("viewers", type_=ARRAY(BigInteger))
_NOW = func.now()
_WHEN = DateTime(timezone=True)
# (viewer, kind, whom or what, expiry) for many viewers at once: b blocked by the viewer, B
# blocking the viewer, m muted, w a word
SAFETY_ROWS: CompoundSelect[Any] = union_all(
    select(Block.blocker_id, literal("b"), cast(Block.blocked_id, Text), cast(null(), _WHEN)).where(
        Block.blocker_id == any_(_VIEWERS)
    ),
    select(Block.blocked_id, literal("B"), cast(Block.blocker_id, Text), cast(null(), _WHEN)).where(
        Block.blocked_id == any_(_VIEWERS)
    ),
    select(Mute.muter_id, literal("m"), cast(Mute.muted_id, Text), Mute.expires_at).where(
        Mute.muter_id == any_(_VIEWERS),
        or_(Mute.expires_at.is_(None), Mute.expires_at > _NOW),
    ),
    select(MutedWord.user_id, literal("w"), MutedWord.word, MutedWord.expires_at).where(
        MutedWord.user_id == any_(_VIEWERS),
        or_(MutedWord.expires_at.is_(None), MutedWord.expires_at > _NOW),
    ),
)
Expiry = float | None  # Unix time; None: never


@dataclass(frozen=True)
class Safety:
    blocking: frozenset[int] = frozenset()  # accounts the viewer blocks
    blocked_by: frozenset[int] = frozenset()  # accounts that block the viewer
    muted: dict[int, Expiry] = field(default_factory=dict)
    words: tuple[tuple[str, Expiry], ...] = ()

    @classmethod
    def of(cls, rows: Iterable[Sequence[Any]]) -> Safety:
        """From SAFETY_ROWS' rows of one viewer, without the viewer's column."""
        blocks: dict[str, set[int]] = {"b": set(), "B": set()}
        muted: dict[int, Expiry] = {}
        words: list[tuple[str, Expiry]] = []
        for kind, what, expires in rows:
            when = expires.timestamp() if expires is not None else None
            if kind in blocks:
                blocks[kind].add(int(what))
            elif kind == "m":
                muted[int(what)] = when
            else:
                words.append((what, when))
        return cls(frozenset(blocks["b"]), frozenset(blocks["B"]), muted, tuple(words))

    @classmethod
    def of_each(cls, viewers: Sequence[int], rows: Iterable[Sequence[Any]]) -> list[Safety]:
        """From SAFETY_ROWS' rows of these viewers: each one's, in their order."""
        by_viewer: dict[int, list[Sequence[Any]]] = {viewer: [] for viewer in viewers}
        for viewer, *row in rows:
            by_viewer[viewer].append(row)
        return [cls.of(by_viewer[viewer]) for viewer in viewers]

    def encode(self) -> list[Any]:
        muted = sorted(self.muted.items())
        return [
            sorted(self.blocking),
            sorted(self.blocked_by),
            muted,
            [list(w) for w in self.words],
        ]

    @classmethod
    def decode(cls, value: list[Any]) -> Safety:
        blocking, blocked_by, muted, words = value
        return cls(
            frozenset(blocking),
            frozenset(blocked_by),
            {user: expires for user, expires in muted},
            tuple((word, expires) for word, expires in words),
        )

    @cached_property
    def blocked(self) -> frozenset[int]:
        """Either way."""
        return self.blocking | self.blocked_by

    def mutes(self, user_id: int, now: float) -> bool:
        if user_id not in self.muted:
            return False
        expires = self.muted[user_id]
        return expires is None or expires > now

    def words_at(self, now: float) -> tuple[str, ...]:
        return tuple(word for word, expires in self.words if expires is None or expires > now)

    @cached_property
    def _patterns(self) -> dict[tuple[str, ...], re.Pattern[str] | None]:
        return {}

    def matcher(self, now: float) -> re.Pattern[str] | None:
        """One pattern for the muted words in force: each whole, in any case; a `#tag` only as
        that hashtag, a plain word also as its hashtag."""
        words = self.words_at(now)
        if words not in self._patterns:
            parts = [
                r"(?<![\w#])#" + re.escape(word[1:]) + r"(?!\w)"
                if word.startswith("#")
                else r"(?<!\w)" + re.escape(word) + r"(?!\w)"
                for word in words
            ]
            self._patterns[words] = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        return self._patterns[words]


NOBODY = Safety()


def hidden(view: Any, safety: Safety, *, viewer_id: int | None, home: bool) -> bool:
    """Whether a tweet view (views/tweets.py TweetView) must not be shown to this viewer: on
    any list (`home`: the home timeline, live or not, and notifications)."""
    authors = [view.author.id]
    texts = [view.row.text]
    if view.original is not None:
        authors.append(view.original.author.id)
        texts.append(view.original.row.text)
    if any(author in safety.blocked for author in authors):
        return True
    if not home or view.author.id == viewer_id:
        return False
    now = time.time()
    if any(safety.mutes(author, now) for author in authors if author != viewer_id):
        return True
    matcher = safety.matcher(now)
    return matcher is not None and any(matcher.search(text) for text in texts if text)
