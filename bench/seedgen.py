"""The rows of a seeded social graph, generated in chunks, deterministic for a seed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.ids import EPOCH_MS
from core.text import hashtags, mentions

CHUNK = 20_000
_WORDS = (
    "the a to of and in is it you that for on with this my at be was just so now today time "
    "love new good great day like people want need think know see more one all what about how "
    "when get make back work life really best world still going never first last night week"
).split()
Row = tuple[object, ...]


@dataclass(frozen=True)
class Plan:
    users: int
    seed: int = 1
    tweets_per_user: float = 15.0
    likes_per_tweet: float = 5.0
    handle_prefix: str = "user"
    now_ms: int = int(
        datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000
    )  # fixed: same seed, same rows

    @property
    def tweets(self) -> int:
        return int(self.users * self.tweets_per_user)

    def handle(self, index: int) -> str:
        return f"{self.handle_prefix}{index:07d}"


def _snowflakes(
    start_ms: int, end_ms: int, first: int, count: int, total: int, serial: int | None = None
) -> np.ndarray:
    """Ids for rows first..first+count of `total` spread evenly over [start_ms, end_ms).

    The low 22 bits (worker and sequence) hold the row's index, so ids stay unique even where
    two windows overlap; the service's own ids are minted now, after every seeded one.
    """
    index = np.arange(first, first + count, dtype=np.int64)
    ms = start_ms + (index * (end_ms - start_ms)) // max(total, 1)
    serials = index - first + (first if serial is None else serial)
    return ((ms - EPOCH_MS) << 22) | (serials % (1 << 22))


def _time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + EPOCH_MS) / 1000, tz=UTC)


class Generator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        now = plan.now_ms
        week = 7 * 24 * 3600 * 1000
        self.user_window = (now - 8 * week, now - 4 * week)
        self.follow_window = (now - 4 * week, now - 3 * week)
        self.tweet_window = (now - 3 * week, now - 3600 * 1000)
        rng = np.random.default_rng(plan.seed)
        n = plan.users
        ranks = np.arange(1, n + 1, dtype=np.float64)
        popularity = rng.permutation(n)  # popularity[k]: the user of rank k
        self.follow_weights = np.empty(n)
        self.follow_weights[popularity] = ranks**-0.8
        self.follow_weights /= self.follow_weights.sum()
        self.activity = rng.lognormal(0.0, 1.2, n)
        self.activity /= self.activity.sum()
        self.user_ids = _snowflakes(*self.user_window, 0, n, n)
        self.tags = [f"tag{k}" for k in range(500)]
        self.tag_weights = np.arange(1, 501, dtype=np.float64) ** -1.1
        self.tag_weights /= self.tag_weights.sum()

    def users(self, password_hash: str) -> Iterator[list[Row]]:
        for first in range(0, self.plan.users, CHUNK):
            yield [
                (
                    int(self.user_ids[i]),
                    self.plan.handle(i),
                    f"User {i}",
                    f"Bio of user {i}",
                    password_hash,
                    _time(int(self.user_ids[i])),
                )
                for i in range(first, min(first + CHUNK, self.plan.users))
            ]

    def follows(self) -> Iterator[list[Row]]:
        n = self.plan.users
        rng = np.random.default_rng(self.plan.seed + 1)
        degrees = np.clip(rng.lognormal(np.log(150), 0.7, n).astype(np.int64), 1, min(n - 1, 5000))
        total = int(degrees.sum())
        made = 0
        step = max(1, CHUNK // 200)
        for first in range(0, n, step):
            rows: list[Row] = []
            for follower in range(first, min(first + step, n)):
                targets = np.unique(rng.choice(n, size=degrees[follower], p=self.follow_weights))
                targets = targets[targets != follower]
                ids = _snowflakes(*self.follow_window, made, len(targets), total)
                made += len(targets)
                follower_id = int(self.user_ids[follower])
                rows += [
                    (follower_id, int(self.user_ids[t]), int(i), _time(int(i)))
                    for t, i in zip(targets, ids, strict=True)
                ]
            yield rows

    def tweets_and_likes(self) -> Iterator[tuple[list[Row], list[Row]]]:
        plan, n = self.plan, self.plan.users
        rng = np.random.default_rng(plan.seed + 2)
        total = plan.tweets
        tweet_ids = np.zeros(total, dtype=np.int64)
        original_of = np.full(total, -1, dtype=np.int64)  # for retweets: the original's index
        retweeted: set[int] = set()
        likes_made = 0
        likes_total = int(total * plan.likes_per_tweet * 1.05)
        for first in range(0, total, CHUNK):
            count = min(CHUNK, total - first)
            ids = _snowflakes(*self.tweet_window, first, count, total)
            tweet_ids[first : first + count] = ids
            authors = rng.choice(n, size=count, p=self.activity)
            kinds = rng.random(count)
            back = rng.geometric(1 / 2000, count)
            tweets: list[Row] = []
            for k in range(count):
                i, author = first + k, int(authors[k])
                target = i - int(back[k])
                row_id, author_id = int(ids[k]), int(self.user_ids[author])
                if target >= 0 and kinds[k] < 0.3:
                    original = int(original_of[target]) if original_of[target] >= 0 else target
                    if kinds[k] < 0.1 and (author, original) not in retweeted:
                        retweeted.add((author, original))
                        original_of[i] = original
                        tweets.append(
                            (
                                row_id,
                                author_id,
                                "",
                                _time(row_id),
                                None,
                                int(tweet_ids[original]),
                                [],
                                [],
                            )
                        )
                        continue
                    if kinds[k] >= 0.1:
                        text = self._text(rng)
                        tweets.append(
                            (
                                row_id,
                                author_id,
                                text,
                                _time(row_id),
                                int(tweet_ids[original]),
                                None,
                                hashtags(text),
                                mentions(text),
                            )
                        )
                        continue
                text = self._text(rng)
                tweets.append(
                    (
                        row_id,
                        author_id,
                        text,
                        _time(row_id),
                        None,
                        None,
                        hashtags(text),
                        mentions(text),
                    )
                )
            likes, likes_made = self._likes(
                rng, ids, original_of[first : first + count], likes_made, likes_total
            )
            yield tweets, likes

    def _likes(
        self,
        rng: np.random.Generator,
        ids: np.ndarray,
        originals: np.ndarray,
        made: int,
        total: int,
    ) -> tuple[list[Row], int]:
        counts = np.minimum(
            rng.pareto(1.5, len(ids)) * self.plan.likes_per_tweet / 2, self.plan.users - 1
        ).astype(np.int64)
        counts[originals >= 0] = 0  # retweets are not liked; their originals are
        tweet_index = np.repeat(np.arange(len(ids)), counts)
        likers = rng.choice(self.plan.users, size=len(tweet_index), p=self.activity)
        pairs = np.unique(tweet_index * self.plan.users + likers)
        window_start = int(ids[-1] >> 22) + EPOCH_MS
        like_ids = _snowflakes(
            window_start, window_start + 3_600_000, 0, len(pairs), len(pairs), made
        )
        rows = [
            (
                int(self.user_ids[pair % self.plan.users]),
                int(ids[pair // self.plan.users]),
                int(like_id),
                _time(int(like_id)),
            )
            for pair, like_id in zip(pairs, like_ids, strict=True)
        ]
        return rows, made + len(pairs)

    def _text(self, rng: np.random.Generator) -> str:
        words = list(rng.choice(_WORDS, size=int(rng.integers(4, 18))))
        for tag in rng.choice(self.tags, size=int(rng.integers(0, 3)), p=self.tag_weights):
            words.insert(int(rng.integers(0, len(words) + 1)), f"#{tag}")
        if rng.random() < 0.25:
            words.insert(0, f"@{self.plan.handle(int(rng.integers(0, self.plan.users)))}")
        return " ".join(str(word) for word in words)[:280]
