"""The fault drill's checks (scripts/drill_checks.py) on a state the drill's own load made
(scripts/drill_load.py, through the app): each passes on it, and each fails once the database
is broken the way it exists to catch (in a transaction rolled back at the end). The drill
itself (`make drill`, a few minutes on servers of its own) is not run here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db import Database
from core.ids import to_global_id
from scripts import drill_checks
from scripts.drill import Phase, latency_table, longest_failure
from scripts.drill_load import Ledger, LiveTimeline, Load, Recorder, Request
from tests.graphql import unique_handle

Settle = Callable[[], Awaitable[int]]


async def _drilled(client: httpx.AsyncClient, settle: Settle) -> tuple[Load, Ledger]:
    """Three users following each other, posting (one mentioning another) and liking."""
    ledger = Ledger()
    load = Load(client, Recorder(), ledger, max_requests=1000)
    ann, bob, cat = [await load.register(unique_handle("d")) for _ in range(3)]
    for follower, followee in ((ann, bob), (bob, ann), (cat, ann)):
        await load.follow(follower, followee)
    await load.post(ann)
    await load.post(bob, mention=cat)
    await load.post(cat)
    for user in (bob, cat):
        await load.like(user, ledger.tweets[next(iter(ledger.tweets))])  # ann's tweet
    await settle()
    return load, ledger


async def _run(
    connection: AsyncConnection, client: httpx.AsyncClient, ledger: Ledger
) -> dict[str, bool]:
    checks = [
        drill_checks.answered(ledger),
        *await drill_checks.tweets(connection, ledger),
        await drill_checks.counts(connection, ledger),
        await drill_checks.timelines(connection, client, ledger, sample=3),
        await drill_checks.notifications(connection, ledger),
    ]
    return {check.name: check.ok for check in checks}


async def test_each_check_passes_on_a_sound_state_and_fails_on_a_broken_one(
    client: httpx.AsyncClient, db: Database, settle: Settle
) -> None:
    _, ledger = await _drilled(client, settle)
    ann = ledger.users[0]
    [first, mentioning, _] = ledger.tweets.values()
    async with db.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            assert all((await _run(connection, client, ledger)).values())

            async def broken(sql: str, **params: object) -> set[str]:
                """The checks that fail once `sql` has run (undone after)."""
                await connection.execute(text("SAVEPOINT broken"))
                await connection.execute(text(sql), params)
                found = await _run(connection, client, ledger)
                await connection.execute(text("ROLLBACK TO SAVEPOINT broken"))
                return {name for name, ok in found.items() if not ok}

            twice = "INSERT INTO tweets (id, author_id, text, created_at) SELECT id + 1, author_id, text, created_at FROM tweets WHERE id = :id"
            assert await broken(twice, id=first) == {
                "every acknowledged tweet stored exactly once",
                "counts exact",  # ann's tweet count
                "home timelines (GraphQL) equal a fresh database read",
            }
            miscounted = "UPDATE tweets SET like_count = like_count + 1 WHERE id = :id"
            assert await broken(miscounted, id=first) == {"counts exact"}
            unliked = "DELETE FROM likes WHERE tweet_id = :id AND user_id = :user"
            failing = await broken(unliked, id=first, user=ledger.users[1].id)
            assert failing == {"counts exact", "notifications complete"}  # its LIKE is unexpected
            forgotten = "DELETE FROM notifications WHERE tweet_id = :id AND kind = 'MENTION'"
            assert await broken(forgotten, id=mentioning) == {"notifications complete"}

            ledger.authors["f" * 32] = ann.id  # sent, never answered, and stored twice:
            doubled = "INSERT INTO tweets (id, author_id, text, created_at) SELECT id + n, author_id, 'drill ' || repeat('f', 32), created_at FROM tweets, generate_series(1, 2) n WHERE id = :id"
            assert "no duplicate among the unacknowledged" in await broken(doubled, id=first)
            del ledger.authors["f" * 32]
            ledger.unanswered.append("createTweet: 200 NOT_FOUND")
            assert not drill_checks.answered(ledger).ok

            await connection.execute(
                text("INSERT INTO outbox (topic, payload) VALUES ('tweet', '{}')")
            )
            assert not (await drill_checks.drained(connection, {})).ok
        finally:
            await transaction.rollback()


async def test_a_stream_with_a_gap_or_a_repeat_fails(
    client: httpx.AsyncClient, db: Database, settle: Settle
) -> None:
    _, ledger = await _drilled(client, settle)
    ann_tweet, bob_tweet, _ = ledger.tweets.values()
    bob = ledger.users[1]  # follows ann: his home holds both tweets, ann's first

    def stream(*tweets: int) -> list[tuple[int, int, LiveTimeline]]:
        timeline = LiveTimeline("", "", "")
        timeline.received = [to_global_id("Tweet", tweet) for tweet in tweets]
        return [(bob.id, ann_tweet - 1, timeline)]

    async with db.read() as connection:
        assert (await drill_checks.streams(connection, stream(ann_tweet, bob_tweet))).ok
        assert not (await drill_checks.streams(connection, stream(ann_tweet))).ok
        assert not (
            await drill_checks.streams(connection, stream(ann_tweet, bob_tweet, bob_tweet))
        ).ok


def test_latency_and_failure_stretches_are_read_per_phase() -> None:
    phases = [Phase("baseline", 0, 10), Phase("fault", 10, 20)]
    requests = [Request("query", t, 0.01 * (t + 1), None) for t in range(10)]
    requests += [Request("query", 10 + t, 0.5, "503 INTERNAL_SERVER_ERROR") for t in range(4)]
    requests += [Request("mutation", 15, 0.2, None), Request("query", 16, 0.1, "ReadTimeout")]
    table = latency_table(phases, requests)
    assert table[1].split()[:5] == ["baseline", "10", "55.0", "99.1", "0"]
    assert table[2].split()[:5] == ["fault", "5", "0.0", "0.0", "5"]
    assert longest_failure(phases, requests) == "3.5 s (4 requests in a row, during fault)"
