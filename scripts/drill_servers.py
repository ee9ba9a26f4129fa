"""The servers of the fault drill (scripts/drill.py), all its own, on free loopback ports in one
temporary directory, so that stopping, killing or pausing them disturbs nothing else on the
machine: a PostgreSQL cluster (initdb/pg_ctl), a redis-server without persistence (a restart
loses everything, as the machine's does), a RabbitMQ node of its own (management off), HAProxy
with deploy/haproxy.cfg, `serve.py` with API_PROCESSES=2 WORKERS=0, and worker processes."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
RABBITMQ_BIN = Path(os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
JOB_QUEUE = "drill"


def free_port(pair: bool = False) -> int:
    """A free loopback port; with `pair`, one whose next port is free too."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if not pair:
            return port
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port + 1))
            return port


def wait_until(check: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.TransportError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not in {seconds:g} s: {what}")
        time.sleep(0.2)


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes] | None, seconds: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def api_pids(serve: int) -> dict[int, int]:
    """The pid of each API process the serve.py process `serve` runs, by port (none for a port
    whose process exited and is not started again yet)."""
    found = subprocess.run(["pgrep", "-P", str(serve)], capture_output=True, text=True, check=False)
    pids = {}
    for pid in map(int, found.stdout.split()):
        with contextlib.suppress(OSError, ValueError, StopIteration):
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if b"--api" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                port = next(e for e in environ if e.startswith(b"PORT=")).removeprefix(b"PORT=")
                pids[int(port)] = pid
    return pids


class Servers:
    """Started by start(), in order, and stopped by stop(), whatever was started."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.logs = directory / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pg_port, self.redis_port, self.amqp_port = free_port(), free_port(), free_port()
        self.api_port, self.front_port, self.stats_port = free_port(True), free_port(), free_port()
        self.worker_metrics = [free_port(), free_port()]
        self.redis: subprocess.Popen[bytes] | None = None
        self.rabbitmq: subprocess.Popen[bytes] | None = None
        self.haproxy: subprocess.Popen[bytes] | None = None
        self.serve: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None, None]
        self._pg_started = False
        self._rabbitmq_env = os.environ | {
            "HOME": str(directory / "rabbitmq"),  # its Erlang cookie, for rabbitmqctl too
            "RABBITMQ_NODENAME": f"drill{self.amqp_port}@localhost",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(directory / "rabbitmq" / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.logs / "rabbitmq"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq" / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq" / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "rabbitmq" / "enabled_plugins"),
        }

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/chirp"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def broker_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.front_port}"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}"

    def start(self, say: Callable[[str], None]) -> None:
        say("PostgreSQL")
        self._start_postgres()
        say("Redis")
        self.start_redis()
        say("RabbitMQ")
        self._start_rabbitmq()
        say("the API (serve.py) and HAProxy")
        self._start_api()
        self._start_haproxy()
        say("workers")
        for index in range(len(self.workers)):
            self.start_worker(index)
        wait_until(self.balanced, "both API processes up behind HAProxy", 120)

    def stop(self) -> None:
        _stop(self.haproxy)
        _stop(self.serve, 60)
        for worker in self.workers:
            _stop(worker, 60)
        if self.rabbitmq is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                self.rabbitmqctl("stop", seconds=10)
            _stop(self.rabbitmq)
        _stop(self.redis)
        if self._pg_started:
            self._pg_ctl("stop", "-m", "immediate")

    # PostgreSQL

    def _as_postgres(self, command: list[str]) -> list[str]:
        """initdb and pg_ctl refuse to run as root: as root, run them as the postgres user."""
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _pg_ctl(self, *arguments: str) -> None:
        data = self.dir / "postgres"
        command = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.logs / "postgres.log")]
        command = self._as_postgres([*command, "-w", *arguments])
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def _start_postgres(self) -> None:
        data = self.dir / "postgres"
        data.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (data, self.logs):
                os.chown(path, user.pw_uid, user.pw_gid)
        initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        subprocess.run(self._as_postgres(initdb), check=True, capture_output=True, timeout=120)
        options = (
            f"-p {self.pg_port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200"
            " -c fsync=off -c shared_buffers=64MB"
        )
        self._pg_ctl("start", "-o", options)
        self._pg_started = True
        createdb = [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port)]
        subprocess.run([*createdb, "-U", "postgres", "chirp"], check=True, timeout=60)

    def restart_postgres(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    # Redis

    def start_redis(self) -> None:
        command = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        with (self.logs / "redis.log").open("ab") as log:
            self.redis = subprocess.Popen(command, stdout=log, stderr=log)
        wait_until(lambda: _answers(self.redis_port), "Redis", 30)

    def restart_redis(self) -> None:
        _stop(self.redis)
        self.start_redis()

    def pause_redis(self, seconds: float) -> None:
        """Redis hung: stopped (SIGSTOP), its connections open, for `seconds`."""
        assert self.redis is not None
        self.redis.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self.redis.send_signal(signal.SIGCONT)

    # RabbitMQ

    def rabbitmqctl(self, *command: str, seconds: float = 120) -> str:
        """rabbitmqctl on the drill's node, tried again for `seconds` while it fails (it does
        at once while the node is not reachable yet, and now and then on a busy machine)."""
        node = self._rabbitmq_env["RABBITMQ_NODENAME"]
        ctl = [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", node, *command]
        deadline = time.monotonic() + seconds
        while True:
            try:
                done = subprocess.run(
                    ctl, env=self._rabbitmq_env, check=True, capture_output=True, timeout=120
                )
                return done.stdout.decode()
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                stopped = self.rabbitmq is None or self.rabbitmq.poll() is not None
                if stopped or time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def _start_rabbitmq(self) -> None:
        home = self.dir / "rabbitmq"
        home.mkdir()
        (home / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n")
        (home / "rabbitmq-env.conf").write_text("")
        (home / "enabled_plugins").write_text("[].\n")
        with (self.logs / "rabbitmq.out").open("ab") as log:
            self.rabbitmq = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self._rabbitmq_env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C reaches the drill, which stops it
            )
        self.rabbitmqctl("await_startup", "--timeout", "60", seconds=180)

    def stop_rabbitmq(self) -> None:
        self.rabbitmqctl("stop_app")

    def start_rabbitmq(self) -> None:
        self.rabbitmqctl("start_app")

    def queued(self) -> dict[str, int]:
        """Messages in each queue of the node (ready and unacknowledged)."""
        out = self.rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages")
        return {name: int(n) for name, n in (line.split() for line in out.splitlines() if line)}

    # the service

    def service_env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER", "PORT"))}
        return inherited | {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BROKER_URL": self.broker_url,
            "JOB_QUEUE": JOB_QUEUE,
            "JWT_SECRET": "drill-secret-drill-secret-drill-secret",
            "DATA_DIR": str(self.dir / "data"),
            "LOG_FORMAT": "json",
            "RATE_LIMIT_PER_MINUTE": "0",  # one client address sends everything
            "TWEET_RATE_LIMIT": "100000",
        }

    def _start_api(self) -> None:
        env = self.service_env() | {
            "PORT": str(self.api_port),
            "API_PROCESSES": "2",
            "WORKERS": "0",
        }
        with (self.logs / "serve.log").open("ab") as log:
            self.serve = subprocess.Popen(
                [sys.executable, "serve.py"], cwd=ROOT, env=env, stdout=log, stderr=log
            )

    def _start_haproxy(self) -> None:
        env = os.environ | {
            "CHIRP_LISTEN": f"127.0.0.1:{self.front_port}",
            "CHIRP_API1": f"127.0.0.1:{self.api_port}",
            "CHIRP_API2": f"127.0.0.1:{self.api_port + 1}",
            "CHIRP_STATS": f"127.0.0.1:{self.stats_port}",
        }
        config = str(ROOT / "deploy" / "haproxy.cfg")
        with (self.logs / "haproxy.log").open("ab") as log:
            self.haproxy = subprocess.Popen(
                [HAPROXY, "-db", "-f", config], env=env, stdout=log, stderr=log
            )

    def start_worker(self, index: int) -> None:
        env = self.service_env() | {"WORKER_METRICS_PORT": str(self.worker_metrics[index])}
        with (self.logs / f"worker{index}.log").open("ab") as log:
            self.workers[index] = subprocess.Popen(
                [sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=log, stderr=log
            )

    def kill_worker(self, index: int) -> None:
        worker = self.workers[index]
        assert worker is not None
        worker.kill()
        worker.wait()

    def api_pids(self) -> dict[int, int]:
        assert self.serve is not None
        return api_pids(self.serve.pid)

    def balanced(self) -> bool:
        """Both API processes UP in HAProxy's stats."""
        text = httpx.get(f"{self.stats_url}/;csv", timeout=2).text
        rows = [line.split(",") for line in text.splitlines() if line.startswith("api,api")]
        return len(rows) == 2 and all(row[17] == "UP" for row in rows)
