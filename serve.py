"""`make run`: the whole service from one command.

With DATABASE_URL and REDIS_URL unset, starts the embedded PostgreSQL and Valkey under
DATA_DIR first; then applies the migrations and serves the API until SIGTERM or Ctrl-C, after
which the embedded servers are stopped cleanly. WORKERS (default 1) worker processes run
beside the API; set WORKERS=0 when they run elsewhere (`make worker`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from alembic import command
from alembic.config import Config
from core import logs
from core.config import Settings
from core.embedded import resolve_backends

ROOT = Path(__file__).resolve().parent


def migrate(database_url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes.update(database_url=database_url, configure_logging=False)
    command.upgrade(config, "head")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it; exiting through Python runs our cleanup
    raise SystemExit(0)


def _start_worker() -> subprocess.Popen[bytes]:
    """A worker process (outbox relay + Dramatiq), given the same environment as the API."""
    return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logs.configure()
    data_dir = Path(os.environ.get("DATA_DIR", "./var"))
    servers = resolve_backends(data_dir)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        settings = Settings.from_env()
        migrate(settings.database_url or "")
        workers += [_start_worker() for _ in range(settings.workers)]
        uvicorn.run(
            "app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            ssl_certfile=settings.tls_certfile,
            ssl_keyfile=settings.tls_keyfile,
            proxy_headers=True,
            log_level="info",
            log_config=None,  # uvicorn's lines go through our JSON handler
            access_log=False,  # web/middleware.py writes one, with the request id
            # events are small JSON: compressing each costs CPU, and a compressor per socket
            # costs memory, for little gain
            ws_per_message_deflate=False,
            ws_ping_interval=20,
            ws_ping_timeout=20,
        )
    except KeyboardInterrupt:
        pass
    finally:
        for worker in workers:
            _stop_worker(worker)
        if servers is not None:
            servers.stop()


if __name__ == "__main__":
    main()
