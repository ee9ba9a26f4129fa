"""The Dramatiq broker: RabbitMQ when BROKER_URL is amqp://, else Redis (BROKER_URL or REDIS_URL).

Call `configure()` before importing workers.actors: actors bind to the broker set at import.
Both brokers keep a message until a worker acknowledges it, so a worker killed mid-job has its
job redone: RabbitMQ at once, Redis once the dead worker's heartbeat is HEARTBEAT_MS old.
Messages given up on go to the queue's dead letter queue (JOB_QUEUE + `.XQ`).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from core import redis_clients
from core.config import BROKER_NAMESPACE, Settings

NAMESPACE = BROKER_NAMESPACE
HEARTBEAT_MS = 15_000


def configure(settings: Settings) -> dramatiq.Broker:
    url = settings.broker_url or settings.redis_url
    if not url:
        raise RuntimeError("BROKER_URL or REDIS_URL must be set")
    broker: dramatiq.Broker
    if url.startswith(("amqp://", "amqps://")):
        broker = RabbitmqBroker(url=url)
    elif url.startswith(redis_clients.CLUSTER_SCHEME):
        raise RuntimeError(
            "Dramatiq's Redis broker needs one Redis node: with REDIS_CLUSTER_NODES, set "
            "BROKER_URL=amqp://... (RabbitMQ)"
        )
    else:
        # maintenance (requeueing a dead worker's messages) on 1 in 10 fetches, not 1 in 1,000
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            client=redis_clients.connect_sync(
                url, timeout=redis_clients.BACKGROUND_TIMEOUT_SECONDS
            ),
            namespace=NAMESPACE,
            heartbeat_timeout=HEARTBEAT_MS,
            maintenance_chance=100_000,
        )
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)
    return broker
