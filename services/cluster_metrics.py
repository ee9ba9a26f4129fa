"""Figures of the whole deployment, read when /metrics is scraped, so any API process shows them:
the outbox backlog (PostgreSQL), the broker's queue depth (Redis or RabbitMQ) and the fan-out
lag, which the workers add to a histogram kept in Redis (`observe_lag`)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from typing import Any

import pika
import redis.asyncio as aioredis
from prometheus_client.core import REGISTRY, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from core import redis_clients
from core.config import BROKER_NAMESPACE, Settings
from core.db import Database
from core.metrics import DB_POOL, FANOUT_LAG, LAG_SECONDS, OUTBOX_BACKLOG, QUEUE_DEPTH
from models import OutboxEvent

log = logging.getLogger("chirp.metrics")
_LAG = f"metrics:{FANOUT_LAG}"  # hash: one field per bucket, plus sum and count
_BROKER_TIMEOUT_SECONDS = 2


async def observe_lag(redis: aioredis.Redis, seconds: float) -> None:
    """One fan-out finished `seconds` after its tweet was created."""
    async with redis.pipeline(transaction=False) as pipe:
        for bound in (*LAG_SECONDS, math.inf):
            if seconds <= bound:
                pipe.hincrby(_LAG, str(bound), 1)
        pipe.hincrbyfloat(_LAG, "sum", seconds)
        pipe.hincrby(_LAG, "count", 1)
        await pipe.execute()


class _FanoutLag(Collector):
    """The lag histogram as last read from Redis."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def collect(self) -> Iterator[HistogramMetricFamily]:
        if not self.fields:
            return
        buckets = [
            ("+Inf" if bound == math.inf else str(bound), float(self.fields.get(str(bound), 0)))
            for bound in (*LAG_SECONDS, math.inf)
        ]
        yield HistogramMetricFamily(
            FANOUT_LAG,
            "Seconds from a tweet's creation to its last timeline insert, from all workers",
            buckets=buckets,
            sum_value=float(self.fields.get("sum", 0)),
        )


_fanout_lag = _FanoutLag()
REGISTRY.register(_fanout_lag)


async def refresh(db: Database, redis: aioredis.Redis, settings: Settings) -> None:
    """Reads what every process shares; a store that fails leaves its figure as it was."""
    pool: Any = db.engine.pool
    DB_POOL.labels("in_use").set(pool.checkedout())
    DB_POOL.labels("idle").set(pool.checkedin())
    try:
        async with db.read() as connection:
            backlog = await connection.scalar(select(func.count()).select_from(OutboxEvent))
        OUTBOX_BACKLOG.set(backlog or 0)
    except Exception:  # noqa: BLE001 - /readyz reports the database; metrics carry on
        log.warning("metrics: could not count the outbox")
    try:
        raw = await redis.hgetall(_LAG)
        _fanout_lag.fields = {_text(k): _text(v) for k, v in raw.items()}
        QUEUE_DEPTH.set(await _queue_depth(redis, settings))
    except Exception:  # noqa: BLE001
        log.warning("metrics: could not read the broker or Redis")


async def _queue_depth(redis: aioredis.Redis, settings: Settings) -> int:
    url = settings.broker_url or ""
    if url.startswith(("amqp://", "amqps://")):
        return await asyncio.wait_for(
            asyncio.to_thread(_rabbitmq_depth, url, settings.job_queue), _BROKER_TIMEOUT_SECONDS
        )
    broker = redis_clients.connect(url, timeout=settings.redis_timeout_seconds) if url else redis
    try:
        name = f"{BROKER_NAMESPACE}:{settings.job_queue}"
        async with broker.pipeline(transaction=False) as pipe:
            pipe.hlen(f"{name}.msgs")
            pipe.hlen(f"{name}.DQ.msgs")
            return int(sum(await pipe.execute()))
    finally:
        if broker is not redis:
            await broker.aclose()


def _rabbitmq_depth(url: str, queue: str) -> int:
    parameters = pika.URLParameters(url)
    # the whole handshake too (pika: 15 s), else a broker that accepts and never answers keeps
    # the thread long after the scrape gave up on it
    parameters.socket_timeout = parameters.stack_timeout = _BROKER_TIMEOUT_SECONDS
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        total = 0
        for name in (queue, f"{queue}.DQ"):
            total += channel.queue_declare(name, passive=True, durable=True).method.message_count
        return total
    finally:
        connection.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
