"""`make worker`: a worker process, the outbox relay plus Dramatiq worker threads.

Run as many as the load needs, on any machines that reach the database, Redis and broker: the
relays share the outbox (SKIP LOCKED) and the workers share the queue. `make run` on the
embedded default starts one beside the API. Stops cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal

import dramatiq

from core import logs
from core.config import Settings

THREADS = 4


def main() -> None:
    logs.configure(Settings.from_env().log_format)
    settings = Settings.from_env()
    from workers import relay
    from workers.actors import broker  # configures the broker, then binds the actor to it

    worker = dramatiq.Worker(broker, worker_threads=THREADS, worker_timeout=1000)
    worker.start()

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await relay.serve(settings, stop)

    try:
        asyncio.run(serve())
    finally:
        worker.stop()
        broker.close()


if __name__ == "__main__":
    main()
