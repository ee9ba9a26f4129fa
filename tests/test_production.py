"""The production profile: `make run` with API_PROCESSES=2 and WORKERS=2 (serve.py) behind
HAProxy with deploy/haproxy.cfg, on the backend under test: a subscription on one API process
sees a tweet posted through the other, killing an API process under load loses no query, and a
rolling restart (SIGHUP) loses neither a query nor a live event.

The services backend uses RabbitMQ as broker (its own queue), the embedded one the Redis broker.
Needs haproxy (`apt-get install haproxy`); skipped without it unless REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from core.config import Settings
from scripts.drill_load import LiveTimeline, Recorder, mutation, query
from scripts.drill_servers import api_pids
from tests.conftest import ROOT
from tests.graphql import POST, REGISTER, Account, unique_handle
from tests.ports import free_port
from tests.test_realtime import HOME, ids, newest_cursor, received
from tests.test_social import FOLLOW
from tests.test_workers import QUEUE, broker_url, rabbitmq  # noqa: F401 - fixtures
from tests.ws import Socket

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
TIMELINE = "{ homeTimeline(first: 5) { edges { node { id text } } } }"
TWEETS = (
    "query($h: String!) { user(handle: $h) { tweets(first: 100) { edges { node { text } } } } }"
)
QUERIES, MUTATIONS, CONCURRENCY = 200, 20, 16

if not os.path.exists(HAPROXY) and os.environ.get("REQUIRE_SERVICES") != "1":
    pytest.skip("haproxy is not installed (apt-get install haproxy)", allow_module_level=True)


@dataclass(frozen=True)
class Cluster:
    url: str  # HAProxy's frontend
    stats: str
    serve: subprocess.Popen[bytes]  # serve.py: the API processes and the workers
    api_ports: tuple[int, int]
    logs: Path


def server_states(stats: str) -> dict[str, str]:
    """The status of each server of the `api` backend, from the stats page's CSV."""
    text = httpx.get(f"{stats}/;csv", timeout=2).text.lstrip("# ")
    rows = csv.DictReader(text.splitlines())
    servers = [row for row in rows if row["pxname"] == "api" and row["svname"] != "BACKEND"]
    return {row["svname"]: row["status"] for row in servers}


def _backend_counter(stats: str, column: str) -> int:
    text = httpx.get(f"{stats}/;csv", timeout=2).text.lstrip("# ")
    for row in csv.DictReader(text.splitlines()):
        if row["pxname"] == "api" and row["svname"] == "BACKEND":
            return int(row[column] or 0)
    raise AssertionError("no api backend in the stats")


def _wait_until(check: Any, what: str, seconds: float, *processes: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        for process in processes:
            assert process.poll() is None, f"{process.args} exited while waiting: {what}"
        assert time.monotonic() < deadline, f"not in time: {what}"
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster(
    settings: Settings, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if not os.path.exists(HAPROXY):
        pytest.fail("haproxy is not installed, and REQUIRE_SERVICES=1")
    broker: str = request.getfixturevalue("broker_url")  # tests/test_workers.py's
    logs = tmp_path_factory.mktemp("production")
    port, front, stats = free_port(2), free_port(), free_port()  # API: PORT and PORT + 1
    inherited = {k: v for k, v in os.environ.items() if k not in ("WORKER_ID", "PORT")}
    env = inherited | {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "BROKER_URL": broker,
        "JOB_QUEUE": QUEUE,
        "JWT_SECRET": settings.resolved_jwt_secret(),
        "HYBRID_THRESHOLD": str(settings.hybrid_threshold),
        "DATA_DIR": str(logs),
        "PORT": str(port),
        "API_PROCESSES": "2",
        "WORKERS": "2",
        "RATE_LIMIT_PER_MINUTE": "0",  # every client of these tests is 127.0.0.1: one budget
    }
    with (logs / "serve.log").open("wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "serve.py"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    balancer_env = inherited | {
        "CHIRP_LISTEN": f"127.0.0.1:{front}",
        "CHIRP_API1": f"127.0.0.1:{port}",
        "CHIRP_API2": f"127.0.0.1:{port + 1}",
        "CHIRP_STATS": f"127.0.0.1:{stats}",
    }
    config = str(ROOT / "deploy" / "haproxy.cfg")
    with (logs / "haproxy.log").open("wb") as log:
        haproxy = subprocess.Popen(
            [HAPROXY, "-db", "-f", config], env=balancer_env, stdout=log, stderr=log
        )
    stats_url = f"http://127.0.0.1:{stats}"
    try:
        _wait_until(
            lambda: server_states(stats_url) == {"api1": "UP", "api2": "UP"},
            "both API processes up behind HAProxy",
            60,
            serve,
            haproxy,
        )
        yield Cluster(f"http://127.0.0.1:{front}", stats_url, serve, (port, port + 1), logs)
    finally:
        _stop(haproxy)
        _stop(serve)


def api_process(cluster: Cluster, port: int) -> psutil.Process:
    """The API process serve.py runs on `port`."""
    for child in psutil.Process(cluster.serve.pid).children():
        if "--api" in child.cmdline() and child.environ().get("PORT") == str(port):
            return child
    raise AssertionError(f"no API process on port {port}")


async def _graphql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def _data(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    response = await _graphql(http, query, variables, token)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def _register(http: httpx.AsyncClient) -> Account:
    variables = {"input": {"handle": unique_handle(), "password": "correct horse"}}
    payload = (await _data(http, REGISTER, variables))["register"]
    return Account(payload["user"]["id"], payload["user"]["handle"], payload["token"])


def _tweet(text: str) -> dict[str, Any]:
    return {"input": {"text": text}}


async def test_a_subscriber_on_one_process_sees_a_post_through_the_other(
    cluster: Cluster,
) -> None:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=10) as http:
        reader, writer = await _register(http), await _register(http)
        await _data(http, FOLLOW, {"id": writer.id}, reader.token)
        socket = await Socket.open(cluster.url, reader.token)
        assert socket.connection.response is not None
        subscribed_on = socket.connection.response.headers["X-Served-By"]
        await socket.subscribe(HOME)
        await asyncio.sleep(0.3)  # registered with its process's hub
        posted: list[str] = []
        for attempt in range(10):  # leastconn sends it to the other at once; made sure here
            response = await _graphql(http, POST, _tweet(f"elsewhere {attempt}"), writer.token)
            posted.append(response.json()["data"]["createTweet"]["id"])
            if response.headers["X-Served-By"] != subscribed_on:
                break
        else:
            raise AssertionError(f"every post went to {subscribed_on}, as the subscription")
        assert ids(await received(socket, len(posted))) == posted
        await socket.close()


async def test_killing_an_api_process_under_load_loses_no_query(cluster: Cluster) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30, limits=limits) as http:
        author = await _register(http)
        await _data(http, POST, _tweet("first"), author.token)
        victim = api_process(cluster, cluster.api_ports[0])
        answered: list[str] = []  # X-Served-By of the queries answered, in order
        killed_at: list[int] = []  # how many were answered then
        quarter = asyncio.Event()

        async def query() -> httpx.Response:
            headers = {"Authorization": f"Bearer {author.token}"}
            response = await http.get("/graphql", params={"query": TIMELINE}, headers=headers)
            answered.append(response.headers.get("X-Served-By", "-"))
            if len(answered) == QUERIES // 4:
                quarter.set()
            return response

        async def mutation(i: int) -> int:
            """Its HTTP status; 0 when the connection was closed without a response (HAProxy's
            way for a request that was sent on a reused connection, as if it had not been
            received: RFC 9112 9.3.1, a client that knows the request is safe may retry)."""
            await asyncio.sleep(i * 0.05)  # spread over the stream, before and after the kill
            try:
                response = await _graphql(http, POST, _tweet(f"under load {i}"), author.token)
            except httpx.RemoteProtocolError:
                return 0
            return response.status_code

        async def kill() -> None:
            await quarter.wait()
            victim.send_signal(signal.SIGKILL)
            killed_at.append(len(answered))

        killer = asyncio.create_task(kill())
        queries = [asyncio.create_task(query()) for _ in range(QUERIES)]
        mutations = [asyncio.create_task(mutation(i)) for i in range(MUTATIONS)]
        await asyncio.gather(*queries, *mutations, killer)

        for task in queries:
            response = task.result()
            assert response.status_code == 200, response.text
            body = response.json()
            assert "errors" not in body and body["data"]["homeTimeline"]["edges"], body
        [kill_index] = killed_at
        assert set(answered[:kill_index]) == {"api1", "api2"}  # both served before the kill

        # mutations: applied at most once; each one answered is there exactly once
        statuses = [task.result() for task in mutations]
        assert set(statuses) <= {200, 502, 0}, statuses
        tweets = await _data(http, TWEETS, {"h": author.handle}, author.token)
        texts = Counter(edge["node"]["text"] for edge in tweets["user"]["tweets"]["edges"])
        assert max(texts.values()) == 1
        for i, status in enumerate(statuses):
            assert status != 200 or texts[f"under load {i}"] == 1
        retried = _backend_counter(cluster.stats, "wretr")
        redispatched = _backend_counter(cluster.stats, "wredis")
        assert redispatched > 0  # requests did meet the dead process, and went to the other
        lost = [i for i, status in enumerate(statuses) if status != 200]
        print(
            f"\n{QUERIES} queries answered ({retried} retries, {redispatched} redispatched);"
            f" mutations: {statuses.count(200)} answered, {len(lost)} lost with their process"
            f" ({sum(texts[f'under load {i}'] for i in lost)} of those committed)"
        )

    # serve.py starts the killed process again, and HAProxy takes it back
    await asyncio.to_thread(
        _wait_until,
        lambda: server_states(cluster.stats) == {"api1": "UP", "api2": "UP"},
        "the killed API process back",
        30,
        cluster.serve,
    )
    assert api_process(cluster, cluster.api_ports[0]).pid != victim.pid
    async with httpx.AsyncClient(base_url=cluster.url) as http:
        assert (await http.get("/readyz")).json()["status"] == "ready"


async def test_a_rolling_restart_loses_no_query_and_no_live_event(cluster: Cluster) -> None:
    """SIGHUP to `make run` restarts the API processes one at a time, each drained first: the
    queries of a steady stream are all answered, and a live timeline whose socket is closed
    (1012) resumes with `since` on the other process, missing and repeating nothing."""
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as http:
        reader, writer = await _register(http), await _register(http)
        await _data(http, FOLLOW, {"id": writer.id}, reader.token)
        await _data(http, POST, _tweet("before the restart"), writer.token)
        timeline = LiveTimeline(cluster.url, reader.token, await newest_cursor(http, reader))
        stop_live, stop_load = asyncio.Event(), asyncio.Event()
        live = asyncio.create_task(timeline.run(stop_live))
        await asyncio.wait_for(timeline.connected.wait(), 10)
        recorder, answers, posted = Recorder(), [], []
        before = api_pids(cluster.serve.pid)

        async def read() -> None:
            while not stop_load.is_set():
                answers.append(await query(http, recorder, TIMELINE, reader.token))

        async def write() -> None:
            while not stop_load.is_set():
                text = f"during the restart {len(posted)}"
                variables = {"input": {"text": text, "idempotencyKey": text}}
                data = await mutation(http, recorder, POST, variables, writer.token)
                posted.append(data["createTweet"]["id"])
                await asyncio.sleep(0.1)

        def restarted() -> bool:
            pids = api_pids(cluster.serve.pid)
            replaced = all(pids.get(port) not in (None, before[port]) for port in before)
            return replaced and server_states(cluster.stats) == {"api1": "UP", "api2": "UP"}

        def delivered() -> bool:
            return len(timeline.received) >= len(posted)

        load = [asyncio.create_task(read()) for _ in range(4)] + [asyncio.create_task(write())]
        try:
            cluster.serve.send_signal(signal.SIGHUP)
            await asyncio.to_thread(_wait_until, restarted, "both restarted", 120, cluster.serve)
            stop_load.set()
            await asyncio.gather(*load)
            await asyncio.to_thread(_wait_until, delivered, "every post delivered live", 30)
        finally:
            stop_load.set()
            stop_live.set()
            await asyncio.gather(*load, live, return_exceptions=True)

    failed = [request.failure for request in recorder.requests if request.kind == "query"]
    assert len(answers) > 20 and not any(failed), Counter(failed)
    assert timeline.received == posted  # in order, none missed, none twice
    assert 1012 in timeline.close_codes and timeline.resumes >= 1
    print(
        f"\n{len(answers)} queries answered during the rolling restart, {len(posted)} posts"
        f" ({len(recorder.failures())} requests sent again); the live timeline resumed {timeline.resumes} times"
        f" (closed with {timeline.close_codes})"
    )
