"""The checks of the fault drill (scripts/drill.py): what the service acknowledged (the Ledger)
and what the live sockets received, against what the database holds, each PASS or FAIL with
its figures. Scoped to the ledger's users, so that they can run on a shared database too."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import expect_global_id
from scripts.drill_load import Ledger, LiveTimeline

KEY = re.compile(r"^drill ([0-9a-f]{32})")
PAGE = """query($after: String) { homeTimeline(first: 100, after: $after) {
  edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
LIKES = """SELECT l.user_id, l.tweet_id, t.author_id FROM likes l JOIN tweets t ON t.id = l.tweet_id
WHERE l.user_id = ANY(:users)"""
FOLLOWS = "SELECT follower_id, followee_id FROM follows WHERE follower_id = ANY(:users)"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    figures: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.figures}"


async def _rows(db: AsyncConnection, sql: str, **params: Any) -> list[Any]:
    return list((await db.execute(text(sql), params)).all())


async def _stored(db: AsyncConnection, ledger: Ledger) -> dict[str, list[int]]:
    """The drill's tweets in the database by idempotency key (in their text)."""
    users = [user.id for user in ledger.users]
    rows = await _rows(
        db, "SELECT id, text FROM tweets WHERE author_id = ANY(:users) ORDER BY id", users=users
    )
    stored: dict[str, list[int]] = {}
    for tweet_id, body in rows:
        if match := KEY.match(body):
            stored.setdefault(match.group(1), []).append(tweet_id)
    return stored


def answered(ledger: Ledger) -> Check:
    """Every mutation answered with data, sent again as often as needed (never refused)."""
    return Check(
        "every mutation answered",
        not ledger.unanswered,
        f"{len(ledger.unanswered)} given up on or refused"
        + (f" (e.g. {ledger.unanswered[0][:200]})" if ledger.unanswered else ""),
    )


async def tweets(db: AsyncConnection, ledger: Ledger) -> list[Check]:
    stored = await _stored(db, ledger)
    acknowledged = ledger.tweets
    wrong = [key for key, tweet in acknowledged.items() if stored.get(key) != [tweet]]
    sent_only = set(ledger.authors) - set(acknowledged)
    doubled = [key for key in sent_only if len(stored.get(key, [])) > 1]
    committed = [key for key in sent_only if stored.get(key)]
    strangers = [key for key in stored if key not in ledger.authors]
    return [
        Check(
            "every acknowledged tweet stored exactly once",
            not wrong,
            f"{len(acknowledged)} acknowledged, {len(wrong)} missing or doubled"
            + (f" (e.g. {wrong[0]}: {stored.get(wrong[0])})" if wrong else ""),
        ),
        Check(
            "no duplicate among the unacknowledged",
            not doubled and not strangers,
            f"{len(sent_only)} never answered ({len(committed)} of them committed, once),"
            f" {len(doubled)} stored twice, {len(strangers)} unknown",
        ),
    ]


async def counts(db: AsyncConnection, ledger: Ledger) -> Check:
    """Like counts equal the likes table; follower, following and tweet counts equal theirs;
    every acknowledged like and follow is there."""
    users = [user.id for user in ledger.users]
    [(wrong_likes, tweets_seen)] = await _rows(
        db,
        """SELECT count(*) FILTER (WHERE t.like_count <> coalesce(l.n, 0)), count(*)
        FROM tweets t LEFT JOIN (SELECT tweet_id, count(*) AS n FROM likes GROUP BY tweet_id) l
        ON l.tweet_id = t.id WHERE t.author_id = ANY(:users)""",
        users=users,
    )
    [(wrong_users,)] = await _rows(
        db,
        """SELECT count(*) FROM users u WHERE u.id = ANY(:users) AND (
          u.follower_count <> (SELECT count(*) FROM follows WHERE followee_id = u.id)
          OR u.following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)
          OR u.tweet_count <> (SELECT count(*) FROM tweets
                               WHERE author_id = u.id AND retweet_of_id IS NULL))""",
        users=users,
    )
    likes = set(
        map(
            tuple,
            await _rows(
                db, "SELECT user_id, tweet_id FROM likes WHERE user_id = ANY(:users)", users=users
            ),
        )
    )
    follows = set(
        map(
            tuple,
            await _rows(
                db,
                "SELECT follower_id, followee_id FROM follows WHERE follower_id = ANY(:users)",
                users=users,
            ),
        )
    )
    lost_likes, lost_follows = ledger.likes - likes, ledger.follows - follows
    return Check(
        "counts exact",
        not (wrong_likes or wrong_users or lost_likes or lost_follows),
        f"{tweets_seen} tweets ({wrong_likes} like counts wrong), {len(users)} users"
        f" ({wrong_users} with a count wrong); {len(likes)} likes and {len(follows)} follows"
        f" ({len(lost_likes)} and {len(lost_follows)} acknowledged ones missing)",
    )


async def _home_in_database(db: AsyncConnection, user_id: int) -> list[int]:
    rows = await _rows(
        db,
        """SELECT id FROM tweets WHERE author_id = :user
        OR author_id IN (SELECT followee_id FROM follows WHERE follower_id = :user)
        ORDER BY id DESC""",
        user=user_id,
    )
    return [row[0] for row in rows]


async def _home_served(http: httpx.AsyncClient, token: str) -> list[int]:
    """The whole home timeline, page after page, by GraphQL over the balancer."""
    served: list[int] = []
    after = None
    while True:
        response = await http.post(
            "/graphql",
            json={"query": PAGE, "variables": {"after": after}},
            headers={"Authorization": f"Bearer {token}"},
        )
        page = response.json()["data"]["homeTimeline"]
        served += [expect_global_id(edge["node"]["id"], "Tweet") for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return served
        after = page["pageInfo"]["endCursor"]


async def timelines(
    db: AsyncConnection, http: httpx.AsyncClient, ledger: Ledger, sample: int
) -> Check:
    differ: list[str] = []
    entries = 0
    for user in ledger.users[:sample]:
        served, fresh = await _home_served(http, user.token), await _home_in_database(db, user.id)
        entries += len(fresh)
        if served != fresh:
            missing, extra = len(set(fresh) - set(served)), len(set(served) - set(fresh))
            differ.append(f"@{user.handle}: {missing} missing, {extra} extra")
    return Check(
        "home timelines (GraphQL) equal a fresh database read",
        not differ,
        f"{min(sample, len(ledger.users))} users, {entries} entries; {len(differ)} differ"
        + (f" ({'; '.join(differ[:3])})" if differ else ""),
    )


async def streams(db: AsyncConnection, sockets: list[tuple[int, int, LiveTimeline]]) -> Check:
    """Each socket's events, across its resumes, against the database's home entries newer than
    the tweet it started after: `sockets` is (user id, that tweet's id, its LiveTimeline)."""
    missed = repeated = unexpected = events = 0
    for user_id, since, timeline in sockets:
        got = [expect_global_id(tweet, "Tweet") for tweet in timeline.received]
        expected = {tweet for tweet in await _home_in_database(db, user_id) if tweet > since}
        events += len(got)
        repeated += len(got) - len(set(got))
        missed += len(expected - set(got))
        unexpected += len(set(got) - expected)
    resumes = sum(timeline.resumes for _, _, timeline in sockets)
    return Check(
        "subscription streams without gap or repeat",
        not (missed or repeated or unexpected),
        f"{len(sockets)} sockets, {events} events, {resumes} resumes; {missed} missed,"
        f" {repeated} repeated, {unexpected} not in the timeline",
    )


async def notifications(db: AsyncConnection, ledger: Ledger) -> Check:
    """One LIKE per like of someone else's tweet, one FOLLOW per follow, one MENTION per tweet
    mentioning someone else, as the database holds them (acknowledged or not), and no other."""
    users = [user.id for user in ledger.users]
    expected: set[tuple[int, str, int, int | None]] = set()
    for liker, tweet, author in await _rows(
        db,
        "SELECT l.user_id, l.tweet_id, t.author_id FROM likes l JOIN tweets t ON t.id = l.tweet_id"
        " WHERE l.user_id = ANY(:users)",
        users=users,
    ):
        if liker != author:
            expected.add((author, "LIKE", liker, tweet))
    for follower, followee in await _rows(
        db,
        "SELECT follower_id, followee_id FROM follows WHERE follower_id = ANY(:users)",
        users=users,
    ):
        expected.add((followee, "FOLLOW", follower, None))
    for key, stored in (await _stored(db, ledger)).items():
        mentioned, author = ledger.mentions.get(key), ledger.authors[key]
        if mentioned is not None and mentioned != author:
            expected.update((mentioned, "MENTION", author, tweet) for tweet in stored)
    rows = await _rows(
        db,
        "SELECT recipient_id, kind, actor_id, tweet_id FROM notifications"
        " WHERE recipient_id = ANY(:users)",
        users=users,
    )
    found = Counter(tuple(row) for row in rows)
    missing, extra = expected - set(found), set(found) - expected
    doubled = sum(n - 1 for n in found.values())
    kinds = Counter(kind for _, kind, _, _ in expected)
    return Check(
        "notifications complete",
        not (missing or extra or doubled),
        ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        + f" expected; {len(missing)} missing, {len(extra)} unexpected, {doubled} doubled",
    )


async def drained(db: AsyncConnection, queued: dict[str, int]) -> Check:
    [(outbox,)] = await _rows(db, "SELECT count(*) FROM outbox")
    waiting = {name: n for name, n in queued.items() if n}
    return Check(
        "outbox and broker queues empty",
        not outbox and not waiting,
        f"{outbox} outbox rows; queues: {waiting or 'all empty'} ({len(queued)} queues)",
    )
