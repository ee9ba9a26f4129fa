"""Fixtures: a fresh database and Redis on the chosen backend, the app, and an HTTP client.

TEST_BACKEND=embedded (default) runs on the embedded PostgreSQL and Valkey under var/;
TEST_BACKEND=services runs on the machine's PostgreSQL (:5432) and Redis (:6379).
TEST_BACKEND=replica runs on a PostgreSQL primary with a streaming replica that takes the reads
(tests/replicas.py, DATABASE_REPLICA_URLS) and the machine's Redis.
TEST_BACKEND=cluster runs on that primary and replica and on a Redis Cluster of three masters
with a replica each (tests/redis_cluster.py), the broker being the machine's RabbitMQ.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from starlette.applications import Starlette

from alembic import command
from alembic.config import Config
from app import create_app
from core import redis_clients
from core.config import Settings
from core.db import Database
from services.stores import Stores
from services.work import Work
from tests.redis_cluster import RedisCluster, running
from tests.replicas import ReplicaPair, replica_of

ROOT = Path(__file__).resolve().parent.parent
# servers the tests start in processes of their own check the engine too (engine/differential.py)
os.environ.setdefault("GRAPHQL_ENGINE_DIFFERENTIAL", "1")
BACKEND = os.environ.get("TEST_BACKEND", "embedded")
SERVICES_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SERVICES_REDIS = f"redis://127.0.0.1:6379/{os.environ.get('TEST_REDIS_DB', '9')}"  # flushed
HYBRID_THRESHOLD = 3  # small, so that tests cover both fan-out and merging at read time


@dataclass(frozen=True)
class Backend:
    database_url: str
    redis_url: str
    replica_urls: tuple[str, ...] = ()


def pytest_report_header() -> str:
    return f"backend: {BACKEND}"


def pytest_configure(config: pytest.Config) -> None:
    if BACKEND == "cluster":
        # redis-py 8.1's cluster client drops the nodes a failover removes and leaves their
        # connections to the garbage collector, whose ResourceWarning lands in whatever test
        # runs then; the other profiles keep every unclosed socket an error
        config.addinivalue_line("filterwarnings", "ignore::ResourceWarning")


@pytest.fixture(autouse=True)
def engine_agrees() -> Iterator[None]:
    """Fails a test in which the engine answered otherwise than graphql-core (whatever the
    test itself saw of it: the difference was raised inside the execution)."""
    from engine import differential

    differential.MISMATCHES.clear()
    yield
    assert not differential.MISMATCHES, "\n\n".join(differential.MISMATCHES)


@pytest.fixture(scope="session")
def replica_pair() -> Iterator[ReplicaPair]:
    """A primary and its streaming replica (tests/replicas.py); failing to start fails."""
    pair = ReplicaPair()
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three masters with a replica each (tests/redis_cluster.py); failing to start fails."""
    with running() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(server-level database URL, Redis URL) of the backend under test."""
    if BACKEND == "services":
        yield SERVICES_DATABASE, SERVICES_REDIS
        return
    if BACKEND in ("replica", "cluster"):
        pair: ReplicaPair = request.getfixturevalue("replica_pair")
        redis_url = SERVICES_REDIS
        if BACKEND == "cluster":
            cluster: RedisCluster = request.getfixturevalue("redis_cluster")
            redis_url = redis_clients.cluster_url(cluster.nodes.split(","))
        yield pair.url(), redis_url
        return
    from core.embedded import EmbeddedServers

    embedded = EmbeddedServers(ROOT / "var" / "test-embedded")
    embedded.start()
    try:
        yield embedded.database_url, embedded.redis_url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
async def backend(
    servers: tuple[str, str], request: pytest.FixtureRequest
) -> AsyncIterator[Backend]:
    server_url, redis_url = servers
    redis = redis_clients.connect(redis_url, timeout=redis_clients.BACKGROUND_TIMEOUT_SECONDS)
    await redis.flushdb()  # every master's on a cluster
    await redis.aclose()
    async with migrated_database(server_url) as database_url:
        replicas = ()
        if BACKEND in ("replica", "cluster"):
            replicas = (replica_of(database_url, request.getfixturevalue("replica_pair")),)
        yield Backend(database_url=database_url, redis_url=redis_url, replica_urls=replicas)


@asynccontextmanager
async def migrated_database(server_url: str) -> AsyncIterator[str]:
    """The URL of a new database on the server, migrated to head, dropped after the block."""
    name = f"chirp_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(
        make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes.update(database_url=database_url, configure_logging=False)
    await _run_sync(command.upgrade, config, "head")
    try:
        yield database_url
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _run_sync(fn: Any, *args: Any) -> None:
    await asyncio.to_thread(fn, *args)


@pytest.fixture(scope="session")
def settings(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=backend.database_url,
        database_replica_urls=backend.replica_urls,
        redis_url=backend.redis_url,
        data_dir=tmp_path_factory.mktemp("data"),
        jwt_secret="test-secret-of-sufficient-length-for-hs256",
        worker_id=1,
        hybrid_threshold=HYBRID_THRESHOLD,
        rate_limit_per_minute=1_000_000,  # the suite's clients share one address; see test_rate_limits
        graphql_engine_differential=True,  # every execution checked against graphql-core
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="session")
def db(app: Starlette) -> Database:
    database: Database = app.state.db
    return database


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back when the test ends."""
    async with db.engine.connect() as connection:
        transaction = await connection.begin()
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as s:
            yield s
        await transaction.rollback()


@pytest.fixture
def work(session: AsyncSession) -> Work:
    """A unit of work's services on the rolled-back session: its events are only recorded."""
    return Work(session)


@pytest.fixture
async def settle(settings: Settings) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """Runs the pending outbox jobs here and now, as the relay and a worker would: the real
    jobs on the real stores, without a broker in between (tests/test_workers.py has one)."""

    stores = Stores.connect(settings, pool_size=2)
    yield lambda: run_pending_jobs(stores)
    await stores.close()


async def run_pending_jobs(stores: Any, *, retry_seconds: float = 0) -> int:
    """Hands the committed outbox records over and runs their jobs, as relay and worker do;
    with `retry_seconds`, a job that Redis fails is tried again meanwhile, as a worker's is."""
    from redis.exceptions import RedisError

    from workers import jobs, relay

    events: list[tuple[str, dict[str, Any]]] = []
    while await relay.relay_once(stores.db, events.extend):
        pass
    for topic, payload in events:
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                await jobs.run(stores, topic, payload)
                break
            except RedisError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    return len(events)


@pytest.fixture(scope="session")
def live_app(settings: Settings) -> Starlette:
    """The app that `live_server` serves (its state lives on the server's thread and loop)."""
    return create_app(settings)


@pytest.fixture(scope="session")
def live_server(live_app: Starlette, settings: Settings) -> Iterator[str]:
    """The real app served by uvicorn on a free loopback port, in a thread of its own."""
    with serving(live_app, settings) as url:
        yield url


@contextmanager
def serving(app: Starlette, settings: Settings) -> Iterator[str]:
    """`app` served on a free loopback port as serve.py serves it (the same protocol, options
    and limits, from `settings`), in a thread of its own; its base URL."""
    import socket
    import threading

    import uvicorn

    from web.http_protocol import server_config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = server_config(app, replace(settings, host="127.0.0.1", port=port), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
