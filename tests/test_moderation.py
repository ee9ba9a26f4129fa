"""Reports, moderators and suspension (CONTRACT.md, "Safety"), and `make moderator`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from starlette.applications import Starlette

from core.config import Settings
from core.ids import expect_global_id
from services import moderation
from services.work import unit_of_work
from tests.graphql import Account, error_code, gql, ok, post, register
from tests.ports import free_port
from tests.rest import call
from tests.test_serve import ROOT, _post, _start, stopped_cleanly
from tests.test_timelines import follow, home
from tests.ws import Socket

Settle = Callable[[], Awaitable[int]]
REPORT = "mutation($i: ReportInput!) { report(input: $i) { id reason comment status reporter { id } user { id } tweet { id } } }"
RESOLVE = "mutation($id: ID!, $a: ModerationAction!) { resolveReport(id: $id, action: $a) { id status resolvedAt } }"
QUEUE = "query($s: ReportStatus) { reports(status: $s, first: 50) { edges { node { id status reporter { id } } } } }"
USER = "query($h: String!) { user(handle: $h) { suspended tweetCount tweets(first: 10) { edges { node { id } } } } }"
TWEET = "query($id: ID!) { tweet(id: $id) { id replyCount retweetCount } }"
LOGIN = 'mutation($h: String!) { login(input: {handle: $h, password: "correct horse"}) { token } }'
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id } }"
SEARCH = "query($q: String!) { searchTweets(query: $q) { edges { node { id } } } }"
VIEWER = "{ viewer { id } }"
LIVE = "subscription { notifications { cursor } }"


async def _moderator(client: httpx.AsyncClient, app: Starlette) -> Account:
    account = await register(client)
    async with unit_of_work(app.state.stores) as work:
        await moderation.name_moderator(work, handle=account.handle)
    return account


async def test_reports_of_tweets_and_accounts_and_their_rules(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    reporter, author = await register(client), await register(client)
    tweet = await post(client, author, "reportable")
    by_tweet = (
        await ok(
            client,
            REPORT,
            {"i": {"subjectId": tweet, "reason": "SPAM", "comment": " buy now "}},
            token=reporter.token,
        )
    )["report"]
    assert by_tweet["status"] == "OPEN" and by_tweet["comment"] == "buy now"
    assert by_tweet["user"]["id"] == author.id and by_tweet["tweet"]["id"] == tweet
    assert by_tweet["reporter"]["id"] == reporter.id  # the reporter sees itself
    again = (
        await ok(
            client, REPORT, {"i": {"subjectId": tweet, "reason": "ABUSE"}}, token=reporter.token
        )
    )["report"]
    assert again["id"] == by_tweet["id"]  # the same subject while open: the same report
    for subject in (reporter.id, await post(client, reporter, "mine")):
        variables = {"i": {"subjectId": subject, "reason": "OTHER"}}
        assert await error_code(client, REPORT, variables, token=reporter.token) == "BAD_USER_INPUT"
    for variables in [
        {"i": {"subjectId": "nonsense", "reason": "SPAM"}},
        {"i": {"subjectId": tweet, "reason": "SPAM", "comment": "x" * 1001}},
    ]:
        assert await error_code(client, REPORT, variables, token=reporter.token) == "BAD_USER_INPUT"
    assert await error_code(client, REPORT, {"i": {"subjectId": tweet, "reason": "SPAM"}}) == (
        "UNAUTHENTICATED"
    )
    # moderators only: the queue, and who reported
    assert await error_code(client, QUEUE, {}, token=reporter.token) == "FORBIDDEN"
    moderator = await _moderator(client, app)
    queue = (await ok(client, QUEUE, {}, token=moderator.token))["reports"]["edges"]
    mine = [edge["node"] for edge in queue if edge["node"]["id"] == by_tweet["id"]]
    assert mine and mine[0]["reporter"]["id"] == reporter.id
    stranger = await register(client)
    node = "query($id: ID!) { node(id: $id) { ... on Report { reporter { id } } } }"
    assert (await ok(client, node, {"id": by_tweet["id"]}, token=stranger.token))["node"] is None


async def test_reports_are_rate_limited(client: httpx.AsyncClient) -> None:
    reporter = await register(client)
    targets = [await register(client) for _ in range(21)]
    for target in targets[:20]:
        variables = {"i": {"subjectId": target.id, "reason": "SPAM"}}
        assert await ok(client, REPORT, variables, token=reporter.token)
    body = await gql(
        client, REPORT, {"i": {"subjectId": targets[20].id, "reason": "SPAM"}}, token=reporter.token
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] >= 1


async def test_resolving_dismisses_or_removes_every_open_report_of_the_subject(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    author, one, two = await register(client), await register(client), await register(client)
    moderator = await _moderator(client, app)
    tweet = await post(client, author, "reported twice")
    reports = [
        (await ok(client, REPORT, {"i": {"subjectId": tweet, "reason": "SPAM"}}, token=r.token))[
            "report"
        ]["id"]
        for r in (one, two)
    ]
    assert (
        await error_code(client, RESOLVE, {"id": reports[0], "a": "REMOVE_TWEET"}, token=one.token)
        == "FORBIDDEN"
    )
    resolved = await ok(
        client, RESOLVE, {"id": reports[0], "a": "REMOVE_TWEET"}, token=moderator.token
    )
    assert resolved["resolveReport"]["status"] == "ACTIONED"
    assert resolved["resolveReport"]["resolvedAt"] is not None
    assert (await ok(client, TWEET, {"id": tweet}))["tweet"] is None  # deleted as by its author
    actioned = (await ok(client, QUEUE, {"s": "ACTIONED"}, token=moderator.token))["reports"]
    assert set(reports) <= {edge["node"]["id"] for edge in actioned["edges"]}  # both at once
    account_report = (
        await ok(
            client, REPORT, {"i": {"subjectId": author.id, "reason": "OTHER"}}, token=one.token
        )
    )["report"]["id"]
    assert (
        await error_code(
            client, RESOLVE, {"id": account_report, "a": "REMOVE_TWEET"}, token=moderator.token
        )
        == "BAD_USER_INPUT"
    )
    dismissed = await ok(
        client, RESOLVE, {"id": account_report, "a": "DISMISS"}, token=moderator.token
    )
    assert dismissed["resolveReport"]["status"] == "DISMISSED"
    await settle()


async def test_suspension_revokes_tokens_at_once_and_removes_the_account_everywhere(
    client: httpx.AsyncClient, app: Starlette, settle: Settle, live_server: str
) -> None:
    spammer, viewer, friend = await register(client), await register(client), await register(client)
    moderator = await _moderator(client, app)
    await follow(client, viewer, spammer)
    await follow(client, viewer, friend)
    await home(client, viewer)
    own = await post(client, viewer, "a tweet the spammer answers")
    spam = await post(client, spammer, "spam spam wonderful spam")
    await post(client, spammer, "a spam reply", reply_to=own)
    await ok(client, RETWEET, {"id": own}, token=spammer.token)
    shared = (await ok(client, RETWEET, {"id": spam}, token=friend.token))["retweet"]["id"]
    await settle()
    assert (await ok(client, TWEET, {"id": own}))["tweet"] == {
        "id": own,
        "replyCount": 1,
        "retweetCount": 1,
    }
    socket = await Socket.open(live_server, spammer.token)
    await socket.subscribe(LIVE)
    report = (
        await ok(client, REPORT, {"i": {"subjectId": spam, "reason": "SPAM"}}, token=viewer.token)
    )["report"]["id"]
    await ok(client, RESOLVE, {"id": report, "a": "SUSPEND_USER"}, token=moderator.token)
    # tokens stop at once: HTTP, REST, and the open socket (not 30 s later)
    assert (await ok(client, VIEWER, token=spammer.token))["viewer"] is None
    assert (await call(client, "GET", "/me", spammer)).status_code == 401
    assert await socket.closed_with(wait=5) == 4403
    assert await error_code(client, LOGIN, {"h": spammer.handle}) == "FORBIDDEN"
    # as if deleted: gone from reads and counts, kept in storage
    assert (await ok(client, TWEET, {"id": spam}))["tweet"] is None
    assert (await ok(client, TWEET, {"id": own}))["tweet"] == {
        "id": own,
        "replyCount": 0,
        "retweetCount": 0,
    }
    seen = await home(client, viewer)
    assert spam not in seen and shared not in seen and own in seen
    found = await ok(client, SEARCH, {"q": "wonderful"}, token=viewer.token)
    assert found["searchTweets"]["edges"] == []
    profile = (await ok(client, USER, {"h": spammer.handle}))["user"]
    assert profile == {"suspended": True, "tweetCount": 0, "tweets": {"edges": []}}
    await settle()  # its job takes its tweets out of the timelines that held them
    from tests.test_timelines import stored

    kept = await stored(app, viewer)
    assert kept is not None and expect_global_id(spam, "Tweet") not in kept


async def test_an_in_flight_fan_out_of_a_suspended_account_leaves_nothing(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    spammer, viewer = await register(client), await register(client)
    await follow(client, viewer, spammer)
    await home(client, viewer)
    await settle()
    spam = await post(client, spammer, "fanned out after the suspension")
    async with unit_of_work(app.state.stores) as work:  # before the post's job runs
        await moderation.suspend(work, user_id=expect_global_id(spammer.id, "User"))
    await settle()
    from tests.test_timelines import stored

    kept = await stored(app, viewer)
    assert kept is not None and expect_global_id(spam, "Tweet") not in kept


def _moderator_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.moderators", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_moderator_on_the_configured_database(settings: Settings) -> None:
    import asyncio as aio

    from sqlalchemy import text

    from core.db import Database

    async def handle_of_a_user() -> str:
        db = Database.connect(settings.database_url or "", pool_size=1)
        try:
            async with db.read() as connection:
                found = await connection.scalar(text("SELECT handle FROM users LIMIT 1"))
        finally:
            await db.dispose()
        return str(found)

    async def is_moderator(handle: str) -> bool:
        db = Database.connect(settings.database_url or "", pool_size=1)
        try:
            async with db.read() as connection:
                query = text("SELECT moderator FROM users WHERE lower(handle) = lower(:h)")
                return bool(await connection.scalar(query, {"h": handle}))
        finally:
            await db.dispose()

    handle = aio.run(handle_of_a_user())
    env = os.environ | {"DATABASE_URL": settings.database_url or ""}
    done = _moderator_command(env, handle.upper())
    assert done.returncode == 0 and "is a moderator now" in done.stdout, done.stderr
    assert aio.run(is_moderator(handle))
    done = _moderator_command(env, handle, "--revoke")
    assert done.returncode == 0 and not aio.run(is_moderator(handle))
    done = _moderator_command(env, "nobody_at_all")
    assert done.returncode == 1 and "NOT_FOUND" in done.stderr
    done = _moderator_command(env, "not a handle")
    assert done.returncode == 1 and "BAD_USER_INPUT" in done.stderr


def test_make_moderator_with_and_without_make_run(tmp_path: Path) -> None:
    """On the embedded default: beside a running `make run` (which it leaves running), and alone
    (it starts the embedded PostgreSQL for itself and stops it after)."""
    port = free_port()
    process = _start(tmp_path, port)
    try:
        register = (
            'mutation { register(input: {handle: "modme", password: "correct horse"}) { token } }'
        )
        assert "errors" not in _post(port, register)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env["DATA_DIR"] = str(tmp_path)
        done = _moderator_command(env, "modme")
        assert done.returncode == 0, done.stderr
        assert (
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        )  # still up
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    done = _moderator_command(env, "modme", "--revoke")
    assert done.returncode == 0 and "no longer" in done.stdout, done.stderr
    stopped_cleanly(tmp_path)  # the PostgreSQL it started, stopped again
    process = _start(tmp_path, port)
    try:
        login = _post(
            port,
            'mutation { login(input: {handle: "modme", password: "correct horse"}) { token } }',
        )
        token = login["data"]["login"]["token"]  # type: ignore[index]
        queue = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ reports { edges { cursor } } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert queue["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # revoked while stopped
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
