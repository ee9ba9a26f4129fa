"""Real worker processes (`python -m workers`: outbox relay + Dramatiq) on a real broker.

The embedded backend runs them on Dramatiq's Redis broker (the embedded default); the services
backend on the machine's RabbitMQ, which CI requires (REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pika
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from core.config import Settings
from core.db import Database
from core.ids import expect_global_id
from services import feed
from tests.conftest import BACKEND, ROOT
from tests.graphql import Account, post, register
from tests.test_timelines import follow, raw, reader_of_writer
from tests.test_worker_ids import SESSION_WORKER_ID
from workers.broker import NAMESPACE

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/%2F"
QUEUE = f"test-{uuid.uuid4().hex[:8]}"  # this session's own: others on the broker keep theirs
DEAD_LETTERS = f"{QUEUE}.XQ"
StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[str]:
    """The machine's RabbitMQ (required in CI); this module's queues are deleted at the end."""
    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ)).close()
    except Exception:  # noqa: BLE001 - any failure to connect means "not there"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("RabbitMQ on :5672 does not answer")
        pytest.skip("RabbitMQ on :5672 does not answer")
    yield RABBITMQ
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
    for queue in (QUEUE, f"{QUEUE}.DQ", DEAD_LETTERS):
        connection.channel().queue_delete(queue)
    connection.close()


@pytest.fixture(scope="module")
def broker_url(settings: Settings, request: pytest.FixtureRequest) -> str:
    """The embedded default's broker on the embedded backend, RabbitMQ on the services one."""
    if BACKEND == "embedded":
        return settings.redis_url or ""
    return str(request.getfixturevalue("rabbitmq"))


@pytest.fixture
def start_worker(settings: Settings, broker_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"worker-{len(started)}.log"
        environment = os.environ | {
            "DATABASE_URL": settings.database_url or "",
            "REDIS_URL": settings.redis_url or "",
            "BROKER_URL": broker_url,
            "HYBRID_THRESHOLD": str(settings.hybrid_threshold),
            "JOB_QUEUE": QUEUE,
            **env,
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "workers"], cwd=ROOT, env=environment, stdout=log, stderr=log
            )
        process.log_path = log_path  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


async def eventually(check: Callable[[], object], *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def test_a_worker_fans_out_through_the_broker(
    client: httpx.AsyncClient, app: Starlette, start_worker: StartWorker
) -> None:
    start_worker()
    reader, writer = await reader_of_writer(client)
    tweet = await post(client, writer, "through the broker")
    user_id = expect_global_id(reader.id, "User")

    async def arrived() -> bool:
        return await feed.holding(app.state.redis, [user_id], raw(tweet)) == 1

    await eventually(arrived)


async def _notification_ids(db: Database, recipient: Account) -> list[int]:
    async with db.read() as connection:
        found = await connection.execute(
            text("SELECT id FROM notifications WHERE recipient_id = :recipient"),
            {"recipient": expect_global_id(recipient.id, "User")},
        )
        return list(found.scalars())


async def _followed_notifies(client: httpx.AsyncClient, db: Database) -> int:
    """The worker id of the FOLLOW notification a new follow gets from a worker process."""
    follower, followee = await register(client), await register(client)
    await follow(client, follower, followee)
    minted: list[int] = []

    async def notified() -> bool:
        minted[:] = await _notification_ids(db, followee)
        return bool(minted)

    await eventually(notified)
    return (minted[0] >> 12) & 0x3FF


async def test_every_worker_process_mints_with_a_worker_id_of_its_own(
    client: httpx.AsyncClient, db: Database, start_worker: StartWorker
) -> None:
    """A second worker process started while the first runs takes another id, so that their
    notifications never share one (they did: both minted as worker 0, and one of two
    notifications with the same id was lost)."""
    first = start_worker()
    of_first = await _followed_notifies(client, db)
    second = start_worker()
    log: Path = second.log_path  # type: ignore[attr-defined]

    async def leased() -> bool:
        return "Snowflake worker id" in await asyncio.to_thread(log.read_text)

    await eventually(leased, seconds=30)
    first.send_signal(signal.SIGTERM)  # from now on the second does every job
    first.wait(timeout=30)
    of_second = await _followed_notifies(client, db)
    assert len({of_first, of_second, SESSION_WORKER_ID}) == 3


async def test_a_worker_process_serves_its_metrics(start_worker: StartWorker) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start_worker(WORKER_METRICS_PORT=str(port))

    async def served() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
        except httpx.TransportError:
            return False
        return "outbox_relay_outages_total" in response.text

    await eventually(served, seconds=30)


def _rabbitmqctl(command: str) -> None:
    subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)


async def test_posting_survives_the_broker_being_down(
    client: httpx.AsyncClient, app: Starlette, rabbitmq: str, start_worker: StartWorker
) -> None:
    """On RabbitMQ on both backends: the embedded broker is the Redis the timelines need."""
    start_worker(BROKER_URL=rabbitmq)
    reader, writer = await reader_of_writer(client)
    user_id = expect_global_id(reader.id, "User")
    _rabbitmqctl("stop_app")
    try:
        tweets = [await post(client, writer, f"while RabbitMQ is down {i}") for i in range(3)]
        await asyncio.sleep(2)
        assert await feed.holding(app.state.redis, [user_id], raw(tweets[-1])) == 0
    finally:
        _rabbitmqctl("start_app")

    async def arrived() -> bool:
        held = [await feed.holding(app.state.redis, [user_id], raw(t)) for t in tweets]
        return held == [1, 1, 1]

    await eventually(arrived, seconds=90)


async def _add_followers(db: Database, author_id: int, count: int) -> list[int]:
    """`count` users following the author, written with set-based SQL (the seed's way is COPY)."""
    base = 8 * 10**18 + (author_id % 10**12) * 10**6  # clear of every Snowflake of the session
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO users (id, handle, display_name, password_hash, created_at) "
                "SELECT CAST(:base AS bigint) + n, 'w' || n || '_' || CAST(:tag AS text), 'follower', '-', now() "
                "FROM generate_series(1, :count) AS n"
            ),
            {"base": base, "count": count, "tag": str(author_id % 100_000)},
        )
        await session.execute(
            text(
                "INSERT INTO follows (id, follower_id, followee_id, created_at) "
                "SELECT CAST(:base AS bigint) + n, CAST(:base AS bigint) + n, CAST(:author AS bigint), now() "
                "FROM generate_series(1, :count) AS n"
            ),
            {"base": base, "count": count, "author": author_id},
        )
        await session.execute(
            text("UPDATE users SET follower_count = :count WHERE id = :author"),
            {"count": count, "author": author_id},
        )
    return [base + n for n in range(1, count + 1)]


async def test_a_worker_killed_mid_fan_out_has_its_job_redone(
    client: httpx.AsyncClient, app: Starlette, db: Database, start_worker: StartWorker
) -> None:
    followers_count = 100_000
    author = await register(client)
    author_id = expect_global_id(author.id, "User")
    followers = await _add_followers(db, author_id, followers_count)
    redis = app.state.redis
    await feed.make_live(redis, followers, ttl=3600)
    env = {"HYBRID_THRESHOLD": str(followers_count * 2)}
    first = start_worker(**env)
    await asyncio.sleep(3)  # booted and listening
    tweet = raw(await post(client, author, "interrupted"))
    newest_follower = followers[-1:]  # fan-out walks followers newest first

    async def begun() -> bool:
        return await feed.holding(redis, newest_follower, tweet) == 1

    await eventually(begun, seconds=30)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert await feed.holding(redis, followers, tweet) < followers_count  # killed mid-way
    start_worker(**env)

    async def finished() -> bool:
        return await feed.holding(redis, followers, tweet) == followers_count

    await eventually(finished, seconds=120)
    sizes = await asyncio.gather(*(redis.zcard(feed.key(f)) for f in followers[::5000]))
    assert set(sizes) == {2}  # the marker and the tweet, once


def _dead_letter_count(broker_url: str, redis_url: str) -> int:
    if broker_url.startswith("amqp"):
        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
        try:
            declared = connection.channel().queue_declare(DEAD_LETTERS, durable=True, passive=True)
            return int(declared.method.message_count)
        finally:
            connection.close()
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.zcard(f"{NAMESPACE}:{DEAD_LETTERS}"))
    finally:
        client.close()


async def test_poison_messages_end_in_the_dead_letter_queue(
    db: Database, settings: Settings, broker_url: str, start_worker: StartWorker
) -> None:
    worker = start_worker()
    await asyncio.sleep(3)
    before = _dead_letter_count(broker_url, settings.redis_url or "")
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO outbox (topic, payload) VALUES "
                """('tweet.posted', '{"tweet_id": "not a number"}'), ('no.such.topic', '{}')"""
            )
        )
        await session.execute(text("NOTIFY outbox"))
    log: Path = worker.log_path  # type: ignore[attr-defined]

    async def logged() -> bool:
        return (await asyncio.to_thread(log.read_text)).count("dead-lettered") == 2

    await eventually(logged, seconds=30)
    assert _dead_letter_count(broker_url, settings.redis_url or "") == before + 2
    assert worker.poll() is None  # and the worker goes on
