"""The `subscription_delivery` scenario: SUBSCRIBERS WebSocket clients on one API process, each
subscribed to its home timeline and following one account, which posts.

- latency: from `createTweet` answering to each client holding the event (p50, p99), posts
  one second apart;
- throughput: events delivered per second while the account posts a burst;
- memory: the API process's resident memory per idle subscribed connection.
- ceiling: a bare Starlette WebSocket app that, told to by an HTTP request it answers at once,
  sends a message of the same size to every client (no GraphQL, no Redis, no database),
  measured the same way.
The clients run in this process (the file limit raised for them), so both sides share the
machine's two cores with the server; the ceiling pays the same.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.fanout import _database
from bench.harness import flush_redis, server
from bench.wsclient import Connection
from core import runtime
from core.security import TokenCodec

SUBSCRIBERS = 5_000
POSTS = 10
BURST = 5
SECRET = "bench-secret-bench-secret-bench-secret-42"
_SUBSCRIBE = "subscription { homeTimeline { cursor node { id text author { handle } } } }"
_POST = 'mutation { createTweet(input: {text: "live"}) { id } }'


@dataclass
class DeliveryResult:
    subscribers: int
    p50_ms: float
    p99_ms: float
    events_per_second: float
    kb_per_connection: float
    ceiling_p50_ms: float
    ceiling_p99_ms: float
    ceiling_events_per_second: float


class _Clients:
    """SUBSCRIBERS WebSockets; the time each message arrives, by message number."""

    def __init__(self) -> None:
        self.sockets: list[Connection] = []

    @property
    def arrivals(self) -> list[list[float]]:
        return [socket.arrivals for socket in self.sockets]

    async def connect(self, url: str, hello: Callable[[int], list[dict[str, Any]]], n: int) -> None:
        async def one(i: int) -> None:
            connection = await Connection.open(url, "graphql-transport-ws")
            for message in hello(i):
                connection.send_text(json.dumps(message))
            if hello(i):
                await connection.acknowledged
            self.sockets.append(connection)

        for start in range(0, n, 250):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 250, n))))

    async def wait_for(self, count: int, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while any(len(s.arrivals) < count for s in self.sockets):
            if time.monotonic() > deadline:
                short = sum(len(s.arrivals) < count for s in self.sockets)
                raise TimeoutError(
                    f"{short:,} of {len(self.sockets):,} clients did not get {count} messages"
                )
            await asyncio.sleep(0.01)

    def close(self) -> None:
        for socket in self.sockets:
            socket.close()


async def _measure(
    url: str, clients: _Clients, trigger: Callable[[], Awaitable[None]]
) -> tuple[list[float], float]:
    """Latencies (ms) of POSTS triggers a second apart, then deliveries/s of a BURST."""
    latencies: list[float] = []
    for n in range(POSTS):
        await trigger()
        answered = time.perf_counter()
        await clients.wait_for(n + 1)
        latencies += [max(a[n] - answered, 0) * 1000 for a in clients.arrivals]
        await asyncio.sleep(1)
    started = time.perf_counter()
    await asyncio.gather(*(trigger() for _ in range(BURST)))
    await clients.wait_for(POSTS + BURST)
    last = max(a[-1] for a in clients.arrivals)
    return latencies, len(clients.arrivals) * BURST / (last - started)


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def _ours(
    url: str, pid: int, users: list[int], author: int
) -> tuple[list[float], float, float]:
    tokens = TokenCodec.for_secret(SECRET, ttl_seconds=3600)
    ws_url = url.replace("http", "ws", 1) + "/graphql"

    def hello(i: int) -> list[dict[str, Any]]:
        auth = {"authorization": f"Bearer {tokens.issue(users[i])}"}
        return [{"type": "connection_init", "payload": auth}]

    process = psutil.Process(pid)
    before = process.memory_info().rss
    clients = _Clients()
    await clients.connect(ws_url, hello, len(users))
    for connection in clients.sockets:
        connection.send_text(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": _SUBSCRIBE}})
        )
    await asyncio.sleep(3)  # subscribed and idle
    per_connection = (process.memory_info().rss - before) / len(users) / 1024
    headers = {"Authorization": f"Bearer {tokens.issue(author)}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:

        async def post() -> None:
            answer = await http.post("/graphql", json={"query": _POST})
            assert "errors" not in answer.json(), answer.text

        try:
            latencies, rate = await _measure(url, clients, post)
        finally:
            clients.close()
    return latencies, rate, per_connection


async def _ceiling(url: str, subscribers: int) -> tuple[list[float], float]:
    clients = _Clients()
    await clients.connect(url.replace("http", "ws", 1) + "/ws", lambda i: [], subscribers)
    await asyncio.sleep(1)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def post() -> None:
            await http.post("/post")

        try:
            return await _measure(url, clients, post)
        finally:
            clients.close()


def run(server_url: str, redis_url: str, *, subscribers: int = SUBSCRIBERS) -> DeliveryResult:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * subscribers)), hard))
    database_url, author, users = asyncio.run(_database(server_url, subscribers))
    asyncio.run(flush_redis(redis_url))
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": SECRET,
        "WORKER_ID": "3",
        "DB_POOL_SIZE": "20",
    }
    with server("app:create_app", env) as url:
        pid = _pid_of(url)
        latencies, rate, per_connection = asyncio.run(_ours(url, pid, users, author))
    with server("bench.subscriptions:ceiling_app", {}) as url:
        ceiling_latencies, ceiling_rate = asyncio.run(_ceiling(url, subscribers))
    return DeliveryResult(
        subscribers=subscribers,
        p50_ms=statistics.median(latencies),
        p99_ms=_percentile(latencies, 99),
        events_per_second=rate,
        kb_per_connection=per_connection,
        ceiling_p50_ms=statistics.median(ceiling_latencies),
        ceiling_p99_ms=_percentile(ceiling_latencies, 99),
        ceiling_events_per_second=ceiling_rate,
    )


def _pid_of(url: str) -> int:
    port = int(url.rsplit(":", 1)[1])
    for connection in psutil.net_connections("tcp"):
        if connection.laddr and connection.laddr.port == port and connection.status == "LISTEN":
            return int(connection.pid or 0)
    raise RuntimeError(f"no process listens on {url}")


def ceiling_app() -> Starlette:
    """Sends every connected socket one message of the size of ours per POST /post, in a process
    tuned like ours."""
    runtime.tune_collector()
    sockets: set[WebSocket] = set()
    message = json.dumps(
        {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {
                    "homeTimeline": {
                        "cursor": "x" * 40,
                        "node": {"id": "x" * 24, "text": "live", "author": {"handle": "u1"}},
                    }
                }
            },
        }
    )

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            sockets.discard(websocket)

    tasks: set[asyncio.Task[Any]] = set()

    async def broadcast() -> None:
        await asyncio.gather(*(s.send_text(message) for s in list(sockets)), return_exceptions=True)

    async def post(request: Request) -> Response:
        """Answers at once, like createTweet, and sends meanwhile."""
        task = asyncio.create_task(broadcast())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return Response(status_code=204)

    return Starlette(routes=[WebSocketRoute("/ws", ws), Route("/post", post, methods=["POST"])])
