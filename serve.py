"""`make run`: the whole service from one command.

With DATABASE_URL and REDIS_URL unset, starts the embedded PostgreSQL and Valkey under
DATA_DIR first; then applies the migrations and serves the API until SIGTERM or Ctrl-C, after
which the embedded servers are stopped cleanly. WORKERS (default 1) worker processes run
beside the API; set WORKERS=0 when they run elsewhere (`make worker`).

API_PROCESSES above 1 (the default on servers of their own) runs that many API processes, on
PORT, PORT + 1, ..., for a balancer in front (deploy/haproxy.cfg); one that dies is started
again. Each is `serve.py --api`: one uvicorn process on PORT, which SIGTERM drains before it
stops (web/drain.py). SIGHUP restarts them one at a time, none missed by the balancer.
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

import httpx
import uvicorn

from alembic import command
from alembic.config import Config
from core import logs
from core.config import Settings
from core.embedded import resolve_backends
from web.drain import DrainingServer
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


def serve_api(settings: Settings, *, drain: bool = False) -> None:
    """One API process on HOST:PORT, until SIGTERM or Ctrl-C; with `drain` (behind a balancer),
    SIGTERM drains it first (web/drain.py)."""
    config = server_config("app:create_app", settings, factory=True, log_level="info")
    if drain:
        server: uvicorn.Server = DrainingServer(config, drain_seconds=settings.drain_seconds)
    else:
        server = uvicorn.Server(config)
    server.run()
    if not server.started:  # as uvicorn.run: the port is taken, the app failed to start...
        sys.exit(3)


def _start_api(settings: Settings, index: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"PORT": str(settings.port + index)} | _worker_id(settings, index)
    return subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--api"], cwd=ROOT, env=env)


def _serving(settings: Settings, index: int) -> bool:
    """Whether the API process on PORT + index answers /livez with 200, as the balancer asks."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)
    scheme = "https" if settings.tls_certfile else "http"
    url = f"{scheme}://{host}:{settings.port + index}/livez"
    try:
        return httpx.get(url, timeout=2, verify=False, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


class _ApiProcesses:
    """API_PROCESSES processes on PORT, PORT + 1, ...; one that exits is started again, after a
    pause that grows while it keeps failing at once (a port in use, a server down). On SIGHUP,
    a rolling restart: one at a time, each drained and stopped (SIGTERM), started again, and the
    next one only once the new one has answered /livez for DRAIN_SECONDS (the balancer's time to
    take it back), so that the others serve meanwhile."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        count = settings.api_processes
        self.processes = [_start_api(settings, i) for i in range(count)]
        self.started = [time.monotonic()] * count
        self.pauses = [1.0] * count
        self.due: dict[int, float] = {}  # when the exited ones start again
        self.restart_requested = False

    def request_restart(self, signum: int, frame: FrameType | None) -> None:
        self.restart_requested = True

    def watch(self, seconds: float) -> None:
        """Waits `seconds`, starting again the processes that exit meanwhile."""
        deadline = time.monotonic() + seconds
        while (now := time.monotonic()) < deadline:
            time.sleep(min(0.2, deadline - now))
            now = time.monotonic()
            for i, process in enumerate(self.processes):
                if process.poll() is None:
                    continue
                if i not in self.due:
                    pause = 1.0 if now - self.started[i] > 30 else min(self.pauses[i] * 2, 30.0)
                    self.pauses[i], self.due[i] = pause, now + pause
                    port, code = self.settings.port + i, process.returncode
                    log.warning("API process on port %s exited (%s); restarting", port, code)
                elif now >= self.due[i]:
                    del self.due[i]
                    self.processes[i], self.started[i] = _start_api(self.settings, i), now

    def restart_each(self) -> None:
        self.restart_requested = False
        log.info("Rolling restart of %s API processes", len(self.processes))
        for i, process in enumerate(self.processes):
            port = self.settings.port + i
            log.info("Restarting the API process on port %s", port)
            if process.poll() is None:
                process.terminate()
                _wait(process, 30 + self.settings.drain_seconds)
            self.due.pop(i, None)
            self.processes[i], self.started[i] = _start_api(self.settings, i), time.monotonic()
            deadline = time.monotonic() + 120
            while not _serving(self.settings, i):
                if time.monotonic() > deadline:
                    log.error("API process on port %s does not serve; restart stopped", port)
                    return
                self.watch(0.5)
            self.watch(self.settings.drain_seconds)
        log.info("Rolling restart done")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            _wait(process, 30 + self.settings.drain_seconds)


def run_api_processes(settings: Settings) -> None:
    """The API processes (_ApiProcesses) until SIGTERM or Ctrl-C; SIGHUP restarts them in turn."""
    group = _ApiProcesses(settings)
    signal.signal(signal.SIGHUP, group.request_restart)
    try:
        while True:
            group.watch(0.2)
            if group.restart_requested:
                group.restart_each()
    finally:
        group.stop()


def _wait(process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logs.configure(Settings.from_env().log_format)
    if sys.argv[1:] == ["--api"]:  # one of several, started by run_api_processes
        serve_api(Settings.from_env(), drain=True)
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
