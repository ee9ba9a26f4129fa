"""`make run`: the whole service from one command.

With DATABASE_URL and REDIS_URL unset, starts the embedded PostgreSQL and Valkey under
DATA_DIR first; then applies the migrations and serves the API until SIGTERM or Ctrl-C, after
which the embedded servers are stopped cleanly.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType

import uvicorn

from alembic import command
from alembic.config import Config
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


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    data_dir = Path(os.environ.get("DATA_DIR", "./var"))
    servers = resolve_backends(data_dir)
    try:
        settings = Settings.from_env()
        migrate(settings.database_url or "")
        uvicorn.run(
            "app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            ssl_certfile=settings.tls_certfile,
            ssl_keyfile=settings.tls_keyfile,
            proxy_headers=True,
            log_level="info",
        )
    except KeyboardInterrupt:
        pass
    finally:
        if servers is not None:
            servers.stop()


if __name__ == "__main__":
    main()
