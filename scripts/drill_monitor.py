"""What the drill's machine does meanwhile (scripts/drill.py): every few seconds, the CPU each of
its processes took (API processes, workers, PostgreSQL, Redis, RabbitMQ, HAProxy, the drill's
own clients, and the rest of the machine), the reads' latency, and each API process's
database pool (its /metrics), one line each in logs/monitor.tsv: to tell a slow service from a
busy machine."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from scripts.drill_load import Recorder
from scripts.drill_servers import Servers

SECONDS = 5.0
_GAUGES = ('db_pool_connections{state="in_use"}', "outbox_backlog", "broker_queue_depth")


def _tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _waited(pid: int) -> int:
    """Nanoseconds the process's main thread (an API process's event loop) has spent ready to
    run but waiting for a CPU (/proc/PID/schedstat): a busy machine, not a slow process."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


class Monitor:
    def __init__(self, servers: Servers, recorder: Recorder, phase: Callable[[], str]) -> None:
        self.servers, self.recorder, self.phase = servers, recorder, phase
        self.path = servers.logs / "monitor.tsv"
        self._known: dict[int, psutil.Process] = {}
        self._waits: dict[int, int] = {}

    def _roles(self) -> dict[str, list[psutil.Process]]:
        servers = self.servers
        roles: dict[str, list[psutil.Process]] = {}
        for port, pid in sorted(servers.api_pids().items()):
            roles[f"api{port - servers.api_port + 1}"] = _tree(pid)
        for index, worker in enumerate(servers.workers):
            roles[f"worker{index}"] = _tree(worker.pid if worker else None)
        postmaster = Path(servers.dir / "postgres" / "postmaster.pid")
        if postmaster.exists():
            roles["postgres"] = _tree(int(postmaster.read_text().split()[0]))
        for name in ("redis", "rabbitmq", "haproxy"):
            process = getattr(servers, name)
            roles[name] = _tree(process.pid if process else None)
        roles["drill"] = [psutil.Process()]
        return roles

    def _cpu(self, processes: list[psutil.Process]) -> float:
        """Percent of one core since the last sample (a process new to it counts from now)."""
        total = 0.0
        for process in processes:
            known = self._known.setdefault(process.pid, process)
            try:
                total += known.cpu_percent(None)
            except psutil.Error:
                continue
        return total

    def _wait_ms(self, seconds: float) -> str:
        """Each API process's wait for a CPU, in milliseconds per second, since the last sample."""
        found = []
        for _, pid in sorted(self.servers.api_pids().items()):
            now, before = _waited(pid), self._waits.get(pid)
            self._waits[pid] = now
            found.append("-" if before is None else f"{(now - before) / 1e6 / seconds:.0f}")
        return "/".join(found)

    async def _metrics(self, http: httpx.AsyncClient) -> list[str]:
        """Each API process's pooled connections in use, and the outbox backlog and the
        broker's queue depth (the first one's /metrics: they are the deployment's)."""
        pools, shared = [], ["-", "-"]
        for port in (self.servers.api_port, self.servers.api_port + 1):
            try:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.TransportError:
                pools.append("-")
                continue
            values = {
                name: line.split()[-1].split(".")[0]
                for line in text.splitlines()
                for name in _GAUGES
                if line.startswith(name + " ") or line.startswith(name + "{")
            }
            pools.append(values.get(_GAUGES[0], "?"))
            if port == self.servers.api_port:
                shared = [values.get(name, "?") for name in _GAUGES[1:]]
        return ["/".join(pools), *shared]

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=3, trust_env=False) as http:
            roles = list(self._roles())
            machine = psutil.cpu_percent(None)
            with self.path.open("w") as out:
                header = ["seconds", "phase", "reads", "p50_ms", "p99_ms", "pool_in_use"]
                header += ["outbox", "queued", "api_cpu_wait_ms_per_s"]
                out.write("\t".join([*header, *roles, "machine", "load1"]) + "\n")
                started, seen = time.monotonic(), len(self.recorder.requests)
                self._wait_ms(SECONDS)
                while True:
                    await asyncio.sleep(SECONDS)
                    requests = self.recorder.requests[seen:]
                    seen += len(requests)
                    reads = sorted(r.seconds * 1000 for r in requests if r.kind == "query")
                    p50 = statistics.median(reads) if reads else 0.0
                    p99 = reads[int(len(reads) * 0.99)] if reads else 0.0
                    now = self._roles()
                    cpu = [f"{self._cpu(now.get(role, [])):.0f}" for role in roles]
                    machine = psutil.cpu_percent(None) * psutil.cpu_count()
                    row = [f"{time.monotonic() - started:.0f}", self.phase(), str(len(reads)),
                           f"{p50:.0f}", f"{p99:.0f}", *await self._metrics(http),
                           self._wait_ms(SECONDS), *cpu, f"{machine:.0f}",
                           f"{psutil.getloadavg()[0]:.1f}"]  # fmt: skip
                    out.write("\t".join(row) + "\n")
                    out.flush()
