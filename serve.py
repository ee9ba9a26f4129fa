"""`make run`: the whole service from one command.

With DATABASE_URL and REDIS_URL unset, starts the embedded PostgreSQL and Valkey under
DATA_DIR first; then applies the migrations and serves the API until SIGTERM or Ctrl-C, after
which the embedded servers are stopped cleanly. WORKERS (default 1) worker processes run
beside the API; set WORKERS=0 when they run elsewhere (`make worker`).

API_PROCESSES above 1 (the default on servers of their own) runs that many API processes, on
PORT, PORT + 1, ..., for a balancer in front (deploy/haproxy.cfg); one that dies is started
again. Each is `serve.py --api`: one uvicorn process on PORT.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType

import uvicorn

from alembic import command
from alembic.config import Config
from core import logs
from core.config import Settings
from core.embedded import resolve_backends
from web.http_protocol import server_config

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("chirp.serve")


def migrate(database_url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes.update(database_url=database_url, configure_logging=False)
    command.upgrade(config, "head")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it; exiting through Python runs our cleanup
    raise SystemExit(0)


def _start_worker(settings: Settings, index: int) -> subprocess.Popen[bytes]:
    """A worker process (outbox relay + Dramatiq), given the same environment as the API."""
    env = os.environ | _worker_id(settings, settings.api_processes + index)
    if settings.worker_metrics_port is not None:
        env["WORKER_METRICS_PORT"] = str(settings.worker_metrics_port + index)
    return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env)


def _worker_id(settings: Settings, index: int) -> dict[str, str]:
    """A configured WORKER_ID is the first process's; the others take the next ones (without
    it, every process leases its own)."""
    if settings.worker_id is None:
        return {}
    return {"WORKER_ID": str(settings.worker_id + index)}


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    _wait(worker)


def serve_api(settings: Settings) -> None:
    """One API process on HOST:PORT, until SIGTERM or Ctrl-C."""
    config = server_config("app:create_app", settings, factory=True, log_level="info")
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # as uvicorn.run: the port is taken, the app failed to start...
        sys.exit(3)


def _start_api(settings: Settings, index: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"PORT": str(settings.port + index)} | _worker_id(settings, index)
    return subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--api"], cwd=ROOT, env=env)


def run_api_processes(settings: Settings) -> None:
    """API_PROCESSES processes on PORT, PORT + 1, ...; one that exits is started again, after a
    pause that grows while it keeps failing at once (a port in use, a server down)."""
    processes = [_start_api(settings, i) for i in range(settings.api_processes)]
    started = [time.monotonic()] * len(processes)
    pauses = [1.0] * len(processes)
    due: dict[int, float] = {}  # when the exited ones start again
    try:
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            for i, process in enumerate(processes):
                if process.poll() is None:
                    continue
                if i not in due:
                    pauses[i] = 1.0 if now - started[i] > 30 else min(pauses[i] * 2, 30.0)
                    due[i] = now + pauses[i]
                    port, code = settings.port + i, process.returncode
                    log.warning("API process on port %s exited (%s); restarting", port, code)
                elif now >= due[i]:
                    del due[i]
                    processes[i], started[i] = _start_api(settings, i), now
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            _wait(process)


def _wait(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logs.configure(Settings.from_env().log_format)
    if sys.argv[1:] == ["--api"]:  # one of several, started by run_api_processes
        serve_api(Settings.from_env())
        return
    before = Settings.from_env()  # its API_PROCESSES default: 1 on the embedded servers
    servers = resolve_backends(before.data_dir)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        settings = replace(Settings.from_env(), api_processes=before.api_processes)
        migrate(settings.database_url or "")
        workers += [_start_worker(settings, i) for i in range(settings.workers)]
        if settings.api_processes > 1:
            run_api_processes(settings)
        else:
            serve_api(settings)
    except KeyboardInterrupt:
        pass
    finally:
        for worker in workers:
            _stop_worker(worker)
        if servers is not None:
            servers.stop()


if __name__ == "__main__":
    main()
