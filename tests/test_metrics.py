"""/metrics: what an operator watches, counted by real requests, sockets and jobs; and JSON logs
that carry the request id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import Awaitable, Callable

import httpx
import pika
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from core.config import BROKER_NAMESPACE, Settings
from core.logs import JsonFormatter
from schema import operation_metrics
from services import cluster_metrics
from tests.graphql import gql, post, register
from tests.test_realtime import HOME, reader_and_writer, received
from tests.test_workers import RABBITMQ
from tests.ws import Socket

Settle = Callable[[], Awaitable[int]]
Labels = dict[str, str]


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_operations_are_counted_by_name_and_type_and_errors_by_code(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    await gql(client, "query Probe { viewer { id } }")
    await gql(client, "query Probe { viewer { id } }")
    await gql(client, 'query Broken { tweet(id: "not-an-id") { id } }')
    await gql(client, "query { unreadNotificationCount }")  # not signed in
    after = await scrape(client)
    for name, count in (("Probe", 2), ("Broken", 1)):
        runs = "graphql_operations_total"
        delta = value(after, runs, operation=name, type="query") - value(
            before, runs, operation=name, type="query"
        )
        assert delta == count
        timed = "graphql_operation_duration_seconds_count"
        assert (
            value(after, timed, operation=name, type="query")
            - value(before, timed, operation=name, type="query")
            == count
        )
    for code in ("BAD_USER_INPUT", "UNAUTHENTICATED"):
        errors = "graphql_errors_total"
        assert value(after, errors, code=code) - value(before, errors, code=code) >= 1
    requests = "http_requests_total"
    sent = value(after, requests, method="POST", path="/graphql", status="200")
    assert sent - value(before, requests, method="POST", path="/graphql", status="200") >= 4


async def test_client_chosen_operation_names_cannot_grow_the_metrics(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operation_metrics, "NAMES_MAX", len(operation_metrics._names) + 2)
    names = [f"Flood{n}" for n in range(5)]
    for name in names:
        await gql(client, f"query {name} {{ viewer {{ id }} }}")
    samples = await scrape(client)
    own = [
        n for n in names if value(samples, "graphql_operations_total", operation=n, type="query")
    ]
    assert own == names[:2]
    assert value(samples, "graphql_operations_total", operation="other", type="query") >= 3


async def test_outbox_backlog_fanout_lag_and_cache_figures(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    await settle()
    author = await register(client)
    before = await scrape(client)
    tweet = await post(client, author, "counted")
    pending = await scrape(client)
    assert value(pending, "outbox_backlog") >= 1
    await settle()
    after = await scrape(client)
    assert value(after, "outbox_backlog") == 0
    lag = "fanout_lag_seconds_count"
    assert value(after, lag) - value(before, lag) >= 1
    assert value(after, "fanout_lag_seconds_bucket", le="+Inf") == value(after, lag)
    assert value(after, "db_pool_connections", state="idle") >= 1
    query = "query($id: ID!) { tweet(id: $id) { text } }"
    for _ in range(2):  # the second read is a hit
        await gql(client, query, {"id": tweet})
    cached = await scrape(client)
    hits = "cache_requests_total"
    assert value(cached, hits, kind="user", result="hit") > value(
        after, hits, kind="user", result="hit"
    )


async def test_the_redis_broker_queue_depth(app: Starlette, settings: Settings) -> None:
    redis = app.state.redis
    waiting = f"{BROKER_NAMESPACE}:{settings.job_queue}.msgs"
    await redis.hset(waiting, mapping={"a": "1", "b": "2"})
    try:
        await cluster_metrics.refresh(app.state.db, redis, settings)
        samples = {s.name: s.value for s in cluster_metrics.QUEUE_DEPTH.collect()[0].samples}
        assert samples["broker_queue_depth"] == 2
    finally:
        await redis.delete(waiting)


def test_the_rabbitmq_queue_depth() -> None:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ))
    except Exception:  # noqa: BLE001 - any failure to connect means "not there"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("RabbitMQ on :5672 does not answer")
        pytest.skip("RabbitMQ on :5672 does not answer")
    queue = "metrics-test"
    channel = connection.channel()
    for name in (queue, f"{queue}.DQ"):
        channel.queue_declare(name, durable=True)
    try:
        for body in (b"1", b"2", b"3"):
            channel.basic_publish("", queue, body)
        channel.basic_publish("", f"{queue}.DQ", b"later")
        assert cluster_metrics._rabbitmq_depth(RABBITMQ, queue) == 4
    finally:
        for name in (queue, f"{queue}.DQ"):
            channel.queue_delete(name)
        connection.close()


def test_the_rabbitmq_queue_depth_gives_up_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broker that accepts connections and never answers (overloaded, or pausing) must not
    hold the scrape's thread past the 2 s the scrape waits: threads of the default executor,
    which sign-ins hash passwords on, would pile up behind a scrape every few seconds."""
    tried: list[pika.URLParameters] = []

    def connection(parameters: pika.URLParameters) -> None:
        tried.append(parameters)
        raise pika.exceptions.AMQPConnectionError("not answering")

    monkeypatch.setattr(pika, "BlockingConnection", connection)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        cluster_metrics._rabbitmq_depth(RABBITMQ, "metrics-test")
    [parameters] = tried
    assert parameters.connection_attempts == 1
    bound = cluster_metrics._BROKER_TIMEOUT_SECONDS
    assert parameters.socket_timeout <= bound and parameters.stack_timeout <= bound


async def test_sockets_subscriptions_and_events(
    client: httpx.AsyncClient, live_server: str
) -> None:
    reader, writer, since = await reader_and_writer(client)
    socket = await Socket.open(live_server, reader.token)
    await socket.subscribe(HOME)
    async with httpx.AsyncClient(base_url=live_server) as http:
        open_ = await scrape(http)
        assert value(open_, "websocket_connections") >= 1
        assert value(open_, "subscriptions_active") >= 1
        await post(client, writer, "an event")
        await received(socket, 1)
        sent = await scrape(http)
        events = "subscription_events_total"
        assert value(sent, events, topic="home") - value(open_, events, topic="home") >= 1
        await socket.close()
        for _ in range(50):  # the server lets go of it just after
            closed = await scrape(http)
            if value(closed, "websocket_connections") < value(open_, "websocket_connections"):
                break
            await asyncio.sleep(0.05)
        assert value(closed, "websocket_connections") == value(open_, "websocket_connections") - 1


async def test_log_lines_are_json_with_the_request_id(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("chirp.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        await client.get("/healthz", headers={"X-Request-Id": "probe-42"})
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    [line] = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["request_id"] == "probe-42"
    assert line["message"] == "GET /healthz"
    assert line["status"] == 200 and line["level"] == "INFO"
