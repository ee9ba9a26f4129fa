"""Read replicas (DATABASE_REPLICA_URLS) on a real primary and streaming replica
(tests/replicas.py): reads go to the replica, a user reads their own writes at once while it
lags, others read it, a lagging or stopped replica is left out and taken back, and workers read
the primary. The drills pause the replica's replay (pg_wal_replay_pause) or stop it (pg_ctl
stop -m immediate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from starlette.applications import Starlette

from app import create_app
from core.config import Settings
from core.db import Database, RequestReads
from core.ids import expect_global_id
from core.replicas import Replica, Replicas
from schema.context import Context
from services import cache
from services.stores import Stores
from tests.conftest import migrated_database, run_pending_jobs
from tests.graphql import Account, gql, ok, post, register
from tests.replicas import ReplicaPair, replica_of
from tests.test_timelines import follow, home

MAX_LAG = 2
NAME = "query($h: String!) { user(handle: $h) { displayName } }"
PROFILE = "query($h: String!) { user(handle: $h) { tweets(first: 50) { edges { node { id } } } } }"
TWEET = "query($id: ID!) { tweet(id: $id) { id text likeCount } }"
VIEWER = "{ viewer { handle } }"
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { id } }"
RENAME = "mutation($n: String!) { updateProfile(input: {displayName: $n}) { displayName } }"


@pytest.fixture(scope="module")
async def primary_url(replica_pair: ReplicaPair) -> AsyncIterator[str]:
    async with migrated_database(replica_pair.url()) as url:
        yield url


@pytest.fixture(scope="module")
def replica_settings(settings: Settings, primary_url: str, replica_pair: ReplicaPair) -> Settings:
    return replace(
        settings,
        database_url=primary_url,
        database_replica_urls=(replica_of(primary_url, replica_pair),),
        database_replica_max_lag_seconds=MAX_LAG,
    )


@pytest.fixture(scope="module")
async def replica_app(replica_settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(replica_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def rclient(replica_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=replica_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="module")
async def replica_sql(primary_url: str, replica_pair: ReplicaPair) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        replica_of(primary_url, replica_pair), isolation_level="AUTOCOMMIT", pool_pre_ping=True
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
async def primary_sql(primary_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(primary_url, isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


def member(app: Starlette) -> Replica:
    db: Database = app.state.db
    assert db.replicas is not None
    return db.replicas.members[0]


def reads(target: str) -> float:
    return REGISTRY.get_sample_value("db_reads_total", {"target": target}) or 0.0


async def scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar()


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> float:
    """Waits for the condition; the seconds it took."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < seconds, "timed out"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def caught_up(app: Starlette, primary: AsyncEngine) -> None:
    """Until the app sees the replica usable and holding everything written so far."""
    position = await scalar(primary, "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
    replica = member(app)

    async def there() -> bool:
        return replica.usable and replica.replayed >= int(str(position))

    await until(there)


@asynccontextmanager
async def replay_paused(replica: AsyncEngine) -> AsyncIterator[None]:
    await scalar(replica, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await scalar(replica, "SELECT pg_wal_replay_resume()")


async def name_of(client: httpx.AsyncClient, account: Account, token: str | None = None) -> str:
    data = await ok(client, NAME, {"h": account.handle}, token=token)
    name: str = data["user"]["displayName"]
    return name


async def profile(client: httpx.AsyncClient, account: Account, token: str | None) -> list[str]:
    data = await ok(client, PROFILE, {"h": account.handle}, token=token)
    return [edge["node"]["id"] for edge in data["user"]["tweets"]["edges"]]


async def test_reads_go_to_the_replica(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    primary_sql: AsyncEngine,
    replica_sql: AsyncEngine,
) -> None:
    account = await register(rclient)
    await caught_up(replica_app, primary_sql)
    before = reads("replica")
    async with replay_paused(replica_sql):
        async with primary_sql.connect() as connection:  # behind the service's back
            await connection.execute(
                text("UPDATE users SET display_name = 'on the primary' WHERE handle = :h"),
                {"h": account.handle},
            )
        await uncached(replica_app, account)  # (the update told no cache: read the row)
        assert await name_of(rclient, account) != "on the primary"  # the replica answered
        assert reads("replica") > before
    await caught_up(replica_app, primary_sql)
    await uncached(replica_app, account)  # (the read above kept the replica's row)
    assert await name_of(rclient, account) == "on the primary"


async def uncached(app: Starlette, account: Account) -> None:
    """Drops the account's cached row, as a write through the service would after commit."""
    await app.state.redis.delete(cache.key(cache.USER, expect_global_id(account.id, "User")))


async def test_a_users_writes_are_read_back_at_once_while_the_replica_lags(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    primary_sql: AsyncEngine,
    replica_sql: AsyncEngine,
) -> None:
    writer, other = await register(rclient), await register(rclient)
    await caught_up(replica_app, primary_sql)
    async with replay_paused(replica_sql):
        tweet = await post(rclient, writer, "written while the replica waits")
        # the writer's next requests, on any process: the primary, until the replica has it
        assert await profile(rclient, writer, writer.token) == [tweet]
        found = await ok(rclient, TWEET, {"id": tweet}, token=writer.token)
        assert found["tweet"]["text"] == "written while the replica waits"
        renamed = await ok(rclient, RENAME, {"n": "renamed"}, token=writer.token)
        assert renamed["updateProfile"]["displayName"] == "renamed"
        assert await name_of(rclient, writer, writer.token) == "renamed"
        # the others read the replica, which does not have it yet (within its lag bound)
        assert member(replica_app).usable
        assert await profile(rclient, writer, other.token) == []
        assert await profile(rclient, writer, None) == []
    await caught_up(replica_app, primary_sql)
    assert await profile(rclient, writer, other.token) == [tweet]


async def test_a_new_account_reads_itself_at_once(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    primary_sql: AsyncEngine,
    replica_sql: AsyncEngine,
) -> None:
    await caught_up(replica_app, primary_sql)
    async with replay_paused(replica_sql):
        account = await register(rclient)
        assert (await ok(rclient, VIEWER, token=account.token))["viewer"] == {
            "handle": account.handle
        }


async def test_a_cache_fill_after_a_write_does_not_keep_the_replicas_old_row(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    primary_sql: AsyncEngine,
    replica_sql: AsyncEngine,
) -> None:
    author, liker, reader = (
        await register(rclient),
        await register(rclient),
        await register(rclient),
    )
    tweet = await post(rclient, author, "to be liked")
    await caught_up(replica_app, primary_sql)
    async with replay_paused(replica_sql):
        await ok(rclient, LIKE, {"id": tweet}, token=liker.token)  # forgets the cached row
        # the reader misses the cache; the row is filled from the primary, not the replica
        seen = await ok(rclient, TWEET, {"id": tweet}, token=reader.token)
        assert seen["tweet"]["likeCount"] == 1
    await caught_up(replica_app, primary_sql)
    seen = await ok(rclient, TWEET, {"id": tweet}, token=reader.token)
    assert seen["tweet"]["likeCount"] == 1


async def test_a_row_too_new_for_the_replica_is_read_from_the_primary(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    primary_sql: AsyncEngine,
    replica_sql: AsyncEngine,
) -> None:
    author, reader = await register(rclient), await register(rclient)
    await caught_up(replica_app, primary_sql)
    async with replay_paused(replica_sql):
        tweet = await post(rclient, author, "too new for the replica")  # not cached by this
        seen = await ok(rclient, TWEET, {"id": tweet}, token=reader.token)
        assert seen["tweet"] is not None and seen["tweet"]["text"] == "too new for the replica"


async def test_a_lagging_replica_is_left_out_and_taken_back(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    primary_sql: AsyncEngine,
    replica_sql: AsyncEngine,
) -> None:
    writer, other = await register(rclient), await register(rclient)
    await caught_up(replica_app, primary_sql)
    replica = member(replica_app)
    async with replay_paused(replica_sql):
        tweet = await post(rclient, writer, "the replica falls behind")

        async def left_out() -> bool:
            return not replica.usable

        waited = await until(left_out, seconds=MAX_LAG + 3)
        assert waited >= MAX_LAG - 0.5  # not before it lagged past the bound
        assert replica.reason == "lag"
        assert REGISTRY.get_sample_value("db_replica_usable", {"replica": replica.name}) == 0
        lag = REGISTRY.get_sample_value("db_replica_lag_seconds", {"replica": replica.name})
        assert lag is not None and lag > MAX_LAG
        before = reads("primary")
        assert await profile(rclient, writer, other.token) == [tweet]  # from the primary
        assert reads("primary") > before
    await caught_up(replica_app, primary_sql)
    assert replica.lag <= MAX_LAG


async def test_a_stopped_replica_leaves_reads_on_the_primary_until_it_is_back(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    primary_sql: AsyncEngine,
    replica_pair: ReplicaPair,
) -> None:
    writer, reader = await register(rclient), await register(rclient)
    tweet = await post(rclient, writer, "before the replica stops")
    await caught_up(replica_app, primary_sql)
    replica = member(replica_app)
    failures: list[str] = []
    answered = 0
    slowest = 0.0
    stop = asyncio.Event()

    async def keep_reading() -> None:
        nonlocal answered, slowest
        while not stop.is_set():
            started = time.monotonic()
            body = await gql(rclient, PROFILE, {"h": writer.handle}, token=reader.token)
            slowest = max(slowest, time.monotonic() - started)
            edges = (body.get("data") or {}).get("user", {}) or {}
            if body.get("errors") or [e["node"]["id"] for e in edges["tweets"]["edges"]] != [tweet]:
                failures.append(str(body)[:300])
            answered += 1
            await asyncio.sleep(0.01)

    readers = [asyncio.create_task(keep_reading()) for _ in range(4)]
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(replica_pair.stop_replica, "immediate")

        async def left_out() -> bool:
            return not replica.usable

        assert await until(left_out, seconds=3) < 3
        check = await rclient.get("/livez")
        assert check.status_code == 200  # the balancer keeps the process
        assert check.json()["degraded"] == {"replicas": "LeftOut"}
        before = reads("primary")
        await asyncio.sleep(1)
        assert reads("primary") > before  # the reads go on, on the primary
        replica_reads = reads("replica")
        await asyncio.to_thread(replica_pair.start_replica)
        await caught_up(replica_app, primary_sql)
        await asyncio.sleep(0.5)
        assert reads("replica") > replica_reads  # taken back
    finally:
        stop.set()
        await asyncio.gather(*readers)
    print(f"stopped replica drill: {answered} reads answered, the slowest in {slowest:.3f} s")
    assert answered > 10
    assert slowest < 3  # the service kept answering, within a few seconds
    assert failures == []  # no client saw an error or a wrong answer
    assert (
        REGISTRY.get_sample_value(
            "db_replica_left_out_total", {"replica": replica.name, "reason": "down"}
        )
        or 0
    ) >= 1


async def test_workers_read_the_primary(
    rclient: httpx.AsyncClient,
    replica_app: Starlette,
    replica_settings: Settings,
    primary_sql: AsyncEngine,
    replica_sql: AsyncEngine,
) -> None:
    reader, writer = await register(rclient), await register(rclient)
    await follow(rclient, reader, writer)
    assert await home(rclient, reader) == []
    await caught_up(replica_app, primary_sql)
    stores = Stores.connect(replica_settings, pool_size=2)
    try:
        assert stores.db.replicas is None
        async with replay_paused(replica_sql):
            tweet = await post(rclient, writer, "fanned out from the primary")
            assert await run_pending_jobs(stores) >= 1
            assert await home(rclient, reader) == [tweet]
    finally:
        await stores.close()


def test_a_websockets_reads_stay_on_the_primary(replica_app: Starlette) -> None:
    state = replica_app.state

    def context(hub: object) -> Context:
        return Context(
            stores=state.stores,
            tokens=state.tokens,
            viewer_id=None,
            request_id="replicas",
            search=state.search,
            limiter=state.limiter,
            hub=hub,  # type: ignore[arg-type]
        )

    assert context(None).reads.replicated  # an HTTP request's
    assert not context(state.hub).reads.replicated  # a WebSocket's subscriptions' too


def _replicas(*replayed: int) -> Replicas:
    primary = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    urls = [f"postgresql+asyncpg://nobody@127.0.0.1:{2 + i}/none" for i in range(len(replayed))]
    replicas = Replicas.connect(primary, urls, pool_size=1, max_lag=MAX_LAG)
    for each, position in zip(replicas.members, replayed, strict=True):
        each.replayed, each.usable = position, True
    return replicas


def test_reads_are_spread_over_the_replicas_that_have_replayed_enough() -> None:
    replicas = _replicas(100, 200, 300)
    first, second, third = replicas.members
    assert {replicas.choose(None).name for _ in range(6)} == {m.name for m in replicas.members}  # type: ignore[union-attr]
    chosen = [replicas.choose(200) for _ in range(4)]
    assert first not in chosen and second in chosen and third in chosen
    assert replicas.choose(301) is None  # the primary's
    second.fail()
    assert [replicas.choose(200) for _ in range(3)] == [third] * 3
    third.fail()
    assert replicas.choose(None) is first and replicas.choose(200) is None


def test_a_replicas_lag_is_the_time_since_it_held_what_the_primary_had() -> None:
    replicas = _replicas(0)
    replicas._samples.extend([(10.0, 100), (11.0, 200), (12.0, 300)])
    assert replicas._lag(300, now=12.05) == 0.0  # caught up
    assert replicas._lag(250, now=12.05) == pytest.approx(1.05)  # held the primary's of 11.0
    assert replicas._lag(50, now=12.05) == pytest.approx(2.05)  # behind all: at least that


async def test_a_read_the_replay_cancels_is_run_again_on_the_primary(
    replica_app: Starlette, primary_sql: AsyncEngine, replica_sql: AsyncEngine
) -> None:
    await caught_up(replica_app, primary_sql)
    await _execute(replica_sql, "ALTER SYSTEM SET max_standby_streaming_delay = 0")
    await scalar(replica_sql, "SELECT pg_reload_conf()")
    reads = RequestReads(replica_app.state.db, recall=_nobody)
    on_replica: list[bool] = []

    async def read(connection: AsyncConnection) -> int:
        standby = bool((await connection.execute(text("SELECT pg_is_in_recovery()"))).scalar())
        on_replica.append(standby)
        # holds the table while the replay needs it whole (the primary's LOCK TABLE, below)
        held = "SELECT count(*) FROM tweets, pg_sleep(:s)"
        return int((await connection.execute(text(held), {"s": 2 if standby else 0})).scalar_one())

    async def lock() -> None:
        await asyncio.sleep(0.5)
        transactional = primary_sql.execution_options(isolation_level="READ COMMITTED")
        async with transactional.begin() as connection:
            await connection.execute(text("LOCK TABLE tweets IN ACCESS EXCLUSIVE MODE"))

    try:
        counted, _ = await asyncio.gather(reads.run(read), lock())
        assert on_replica == [True, False]  # cancelled on the replica, answered by the primary
        assert counted == await scalar(primary_sql, "SELECT count(*) FROM tweets")
    finally:
        await reads.finish()
        await _execute(replica_sql, "ALTER SYSTEM RESET max_standby_streaming_delay")
        await scalar(replica_sql, "SELECT pg_reload_conf()")


async def _nobody() -> int | None:
    return None


async def _execute(engine: AsyncEngine, sql: str) -> None:
    async with engine.connect() as connection:
        await connection.execute(text(sql))
