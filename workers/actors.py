"""The Dramatiq actor: one, running the job an outbox topic names (workers/jobs.py).

Importing this module configures the broker from the environment first, so the actor binds
to it. The database and Redis clients are made inside the worker's event loop, once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from core.config import Settings
from services.stores import Stores
from workers import jobs
from workers.broker import configure

logger = logging.getLogger("chirp.jobs")
settings = Settings.from_env()
broker = configure(settings)
_stores: dict[int, Stores] = {}


class DeadLetters(Middleware):
    """One error line per job given up on; the message itself waits in the dead letter queue
    (a failed message is nacked, and a nack moves it there)."""

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        logger.error(
            "job %s %r dead-lettered after %s retries: %s",
            message.message_id,
            message.args,
            message.options.get("retries", 0),
            message.options.get("traceback", "").strip().splitlines()[-1:] or "not retryable",
        )


broker.add_middleware(DeadLetters())


def stores() -> Stores:
    loop = id(asyncio.get_running_loop())
    if loop not in _stores:
        _stores[loop] = Stores.connect(settings)
    return _stores[loop]


@dramatiq.actor(
    queue_name=settings.job_queue,
    max_retries=settings.job_max_retries,
    min_backoff=500,
    max_backoff=60_000,
    throws=(jobs.PoisonMessage,),
)
async def run_job(topic: str, payload: dict[str, Any]) -> None:
    await jobs.run(stores(), topic, payload)
