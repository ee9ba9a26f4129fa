"""`make worker`: a worker process, the outbox relay plus Dramatiq worker threads.

Run as many as the load needs, on any machines that reach the database, Redis and broker: the
relays share the outbox (SKIP LOCKED) and the workers share the queue. `make run` on the
embedded default starts one beside the API. Each also runs the periodic clean-up of images
never attached (workers/cleanup.py). Stops cleanly on SIGTERM or Ctrl-C.

The process leases its Snowflake worker id (core/worker_ids.py) before any job runs: its
threads mint notification ids with it.
"""

from __future__ import annotations

import asyncio
import signal

import dramatiq
import prometheus_client

from core import logs, tasks, worker_ids
from core.config import Settings
from core.db import Database

THREADS = 4


def main() -> None:
    logs.configure(Settings.from_env().log_format)
    settings = Settings.from_env()
    if settings.worker_metrics_port is not None:  # the relay's and the loops' counters
        prometheus_client.start_http_server(settings.worker_metrics_port, addr=settings.host)
    from workers import cleanup, relay
    from workers.actors import broker  # configures the broker, then binds the actor to it

    worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=1000)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        db = Database.connect(settings.database_url or "", pool_size=2)
        try:
            async with worker_ids.leased(
                db, seconds=settings.worker_lease_seconds, configured=settings.worker_id
            ):
                worker.start()
                clean = tasks.keep_running("media_cleanup", lambda: cleanup.serve(settings, stop))
                try:
                    await tasks.supervise("relay", lambda: relay.serve(settings, db, stop))
                finally:
                    await tasks.stop([clean])
                    await asyncio.to_thread(worker.stop)  # jobs in progress still mint
        finally:
            await db.dispose()

    try:
        asyncio.run(serve())
    finally:
        broker.close()


if __name__ == "__main__":
    main()
