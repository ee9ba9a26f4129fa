"""The fault drill: the production profile at a small scale, under load, through every fault of
issue 17 in turn, then the checks that nothing was lost or doubled.

    .venv/bin/python -m scripts.drill [--smoke] [--users 40] [--sockets 10] [--pause 15]
    make drill ARGS="--faults rabbitmq --pause 60"

On servers of its own (scripts/drill_servers.py: PostgreSQL, Redis, RabbitMQ, HAProxy, serve.py
with API_PROCESSES=2 WORKERS=0, 2 worker processes, all on loopback in a temporary directory),
with writers posting (idempotency keys, sent again on a 502 or a lost connection), likers,
followers, readers and live sockets resuming with `since` (scripts/drill_load.py). Faults, with
a pause of load between them: PostgreSQL restarted, Redis restarted (without persistence: it
comes back empty), RabbitMQ stopped, a worker killed -9 (and started again), an API process
killed -9 (serve.py starts it again), a rolling restart (SIGHUP to serve.py), Redis hung
(SIGSTOP). Then the checks (scripts/drill_checks.py), each PASS or FAIL with its figures, and the
latency of reads per phase. Exits 1 on any FAIL. Bounded in time (--deadline) and requests
(--max-requests).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from core.db import Database
from scripts import drill_checks
from scripts.drill_load import Ledger, LiveTimeline, Load, Recorder, Request
from scripts.drill_monitor import Monitor
from scripts.drill_servers import Servers, wait_until


@dataclass(frozen=True)
class Scale:
    users: int
    sockets: int
    writers: int
    likers: int
    readers: int
    baseline: float  # seconds of load before the first fault
    pause: float  # seconds of load after each fault
    rabbitmq_down: float
    redis_hung: float


FULL = Scale(users=40, sockets=10, writers=2, likers=2, readers=3, baseline=20, pause=15,
             rabbitmq_down=20, redis_hung=10)  # fmt: skip
SMOKE = Scale(users=12, sockets=3, writers=1, likers=1, readers=1, baseline=5, pause=5,
              rabbitmq_down=5, redis_hung=3)  # fmt: skip
FAULTS = ("postgres", "redis", "rabbitmq", "worker", "api", "rolling", "hang")


@dataclass
class Phase:
    name: str
    start: float
    end: float = float("inf")


class Drill:
    def __init__(self, servers: Servers, scale: Scale, faults: list[str], bar: tqdm) -> None:
        self.servers, self.scale, self.faults, self.bar = servers, scale, faults, bar
        self.phases: list[Phase] = []
        self.recorder, self.ledger = Recorder(), Ledger()

    def phase(self, name: str) -> None:
        now = time.monotonic()
        if self.phases:
            self.phases[-1].end = now
        self.phases.append(Phase(name, now))
        self.bar.set_description(name)
        self.bar.update(1)

    async def run(self, max_requests: int) -> list[drill_checks.Check]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=self.servers.url, timeout=30, limits=limits) as http:
            load = Load(http, self.recorder, self.ledger, max_requests=max_requests)
            sockets = await self._set_up(load)
            stop_live = asyncio.Event()
            live = [asyncio.create_task(timeline.run(stop_live)) for _, _, timeline in sockets]
            monitor = Monitor(self.servers, self.recorder, lambda: self.phases[-1].name)
            ticker = [asyncio.create_task(self._tick()), asyncio.create_task(monitor.run())]
            actors = load.run(self.scale.writers, self.scale.likers, self.scale.readers)
            try:
                self.phase("baseline")
                await asyncio.sleep(self.scale.baseline)
                for fault in self.faults:
                    self.phase(fault)
                    await asyncio.to_thread(self._fault, fault)
                    self.phase(f"{fault}: after")
                    await asyncio.sleep(self.scale.pause)
                self.phase("settling")
            finally:
                load.stop()
                await asyncio.gather(*actors, return_exceptions=True)
            db = Database.connect(self.servers.database_url, pool_size=2)
            try:
                await self._settle(db, sockets)
                stop_live.set()
                await asyncio.gather(*live)
                for task in ticker:
                    task.cancel()
                self.phase("checks")
                return await self._checks(db, http, sockets)
            finally:
                await db.dispose()

    async def _set_up(self, load: Load) -> list[tuple[int, int, LiveTimeline]]:
        """Users following each other, one tweet each, and the live sockets of the first ones
        (whose follows then stay as they are), each after the newest entry of its timeline."""
        self.phase("setup: users")
        tag = os.urandom(3).hex()
        users = [await load.register(f"d{tag}{i}") for i in range(self.scale.users)]
        follows = min(6, len(users) - 1)
        for i, user in enumerate(users):
            for step in range(1, follows + 1):
                await load.follow(user, users[(i + step) % len(users)])
        for user in users:
            await load.post(user)
        self.phase("setup: sockets")
        sockets = []
        for user in users[: self.scale.sockets]:
            cursor, newest = await load.newest(user)
            sockets.append((user.id, newest, LiveTimeline(self.servers.url, user.token, cursor)))
            load.quiet.add(user.id)
        return sockets

    def _fault(self, fault: str) -> None:
        servers = self.servers
        if fault == "postgres":
            servers.restart_postgres()
        elif fault == "redis":
            servers.restart_redis()
        elif fault == "rabbitmq":
            servers.stop_rabbitmq()
            time.sleep(self.scale.rabbitmq_down)
            servers.start_rabbitmq()
        elif fault == "worker":
            servers.kill_worker(0)
            servers.start_worker(0)
        elif fault == "api":
            before = servers.api_pids()
            os.kill(before[servers.api_port], signal.SIGKILL)
            self._until_replaced(before, [servers.api_port])
        elif fault == "rolling":
            before = servers.api_pids()
            assert servers.serve is not None
            servers.serve.send_signal(signal.SIGHUP)
            self._until_replaced(before, list(before))
        elif fault == "hang":
            servers.pause_redis(self.scale.redis_hung)

    def _until_replaced(self, before: dict[int, int], ports: list[int]) -> None:
        def replaced() -> bool:
            now = self.servers.api_pids()
            fresh = all(now.get(port) not in (None, before[port]) for port in ports)
            return fresh and self.servers.balanced()

        wait_until(replaced, "API processes started again and back behind HAProxy", 180)

    async def _tick(self) -> None:
        while True:
            requests = self.recorder.requests
            failed = sum(1 for request in requests if request.failure is not None)
            self.bar.set_postfix(requests=len(requests), failed=failed, refresh=True)
            await asyncio.sleep(1)

    async def _settle(self, db: Database, sockets: list[tuple[int, int, LiveTimeline]]) -> None:
        """Waits (up to 3 minutes) for the outbox and the queues to drain, then for the sockets
        to receive nothing more for 5 s."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            async with db.read() as connection:
                check = await drill_checks.drained(connection, self.servers.queued())
            if check.ok:
                break
            await asyncio.sleep(1)
        received = -1
        while time.monotonic() < deadline:
            now = sum(len(timeline.received) for _, _, timeline in sockets)
            if now == received:
                return
            received = now
            await asyncio.sleep(5)

    async def _checks(
        self, db: Database, http: httpx.AsyncClient, sockets: list[tuple[int, int, LiveTimeline]]
    ) -> list[drill_checks.Check]:
        async with db.read() as connection:
            return [
                drill_checks.answered(self.ledger),
                *await drill_checks.tweets(connection, self.ledger),
                await drill_checks.counts(connection, self.ledger),
                await drill_checks.timelines(connection, http, self.ledger, sample=10),
                await drill_checks.streams(connection, sockets),
                await drill_checks.notifications(connection, self.ledger),
                await drill_checks.drained(connection, self.servers.queued()),
            ]


def _percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1]


def latency_table(phases: list[Phase], requests: list[Request]) -> list[str]:
    """Per phase: reads (GET queries) p50/p99 and failures, mutations and their failures."""
    lines = [f"{'phase':<22} {'reads':>6} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}"
             f" {'writes':>7} {'failed':>7}"]  # fmt: skip
    for phase in phases:
        inside = [r for r in requests if phase.start <= r.started < phase.end]
        reads = [r for r in inside if r.kind == "query"]
        writes = [r for r in inside if r.kind == "mutation"]
        if not inside:
            continue
        seconds = [r.seconds * 1000 for r in reads if r.failure is None]
        lines.append(
            f"{phase.name:<22} {len(reads):>6} {_percentile(seconds, 0.5):>8.1f}"
            f" {_percentile(seconds, 0.99):>8.1f} {sum(r.failure is not None for r in reads):>7}"
            f" {len(writes):>7} {sum(r.failure is not None for r in writes):>7}"
        )
    return lines


def longest_failure(phases: list[Phase], requests: list[Request]) -> str:
    """The longest run of consecutive failed requests (by start time): how long, how many."""
    best: tuple[float, int, float] = (0.0, 0, 0.0)  # seconds, requests, when it began
    run: list[Request] = []
    for request in sorted(requests, key=lambda r: r.started):
        if request.failure is None:
            run = []
            continue
        run.append(request)
        seconds = run[-1].started + run[-1].seconds - run[0].started
        if seconds > best[0]:
            best = (seconds, len(run), run[0].started)
    seconds, count, began = best
    if not count:
        return "no request failed"
    phase = next((p.name for p in phases if p.start <= began < p.end), "?")
    return f"{seconds:.1f} s ({count} requests in a row, during {phase})"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the tiniest scale, under 3 minutes")
    parser.add_argument("--users", type=int)
    parser.add_argument("--sockets", type=int)
    parser.add_argument("--writers", type=int)
    parser.add_argument("--readers", type=int)
    parser.add_argument("--pause", type=float, help="seconds of load after each fault")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"of {','.join(FAULTS)}")
    parser.add_argument("--max-requests", type=int, default=40_000)
    parser.add_argument("--deadline", type=float, default=1200, help="seconds, in all")
    parser.add_argument("--keep", action="store_true", help="keep the servers' directory")
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    scale = SMOKE if arguments.smoke else FULL
    overrides = {
        name: getattr(arguments, name)
        for name in ("users", "sockets", "writers", "readers", "pause")
    }
    scale = Scale(**(vars(scale) | {k: v for k, v in overrides.items() if v is not None}))
    faults = [fault for fault in arguments.faults.split(",") if fault]
    if unknown := set(faults) - set(FAULTS):
        sys.exit(f"unknown faults: {', '.join(sorted(unknown))} (of {', '.join(FAULTS)})")
    directory = Path(tempfile.mkdtemp(prefix="chirp-drill-"))
    directory.chmod(0o755)  # PostgreSQL runs as its own user
    servers = Servers(directory)
    started = time.monotonic()
    bar = tqdm(total=5 + 2 * len(faults), unit="phase", file=sys.stderr)
    drill = Drill(servers, scale, faults, bar)
    try:
        servers.start(lambda what: bar.set_description(f"starting {what}"))
        checks = asyncio.run(
            asyncio.wait_for(drill.run(arguments.max_requests), arguments.deadline)
        )
    finally:
        bar.close()
        servers.stop()
        if arguments.keep:
            print(f"servers' directory (logs): {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    _report(drill, checks, time.monotonic() - started)
    sys.exit(0 if all(check.ok for check in checks) else 1)


def _report(drill: Drill, checks: list[drill_checks.Check], seconds: float) -> None:
    requests = drill.recorder.requests
    ledger = drill.ledger
    print(
        f"\nchirp drill: {seconds:.0f} s, {len(requests)} requests; {len(ledger.users)} users,"
        f" {len(ledger.tweets)} tweets, {len(ledger.likes)} likes, {len(ledger.follows)} follows"
        f" acknowledged; faults: {', '.join(drill.faults) or 'none'}"
    )
    print("\n".join(latency_table(drill.phases, requests)))
    print(f"longest stretch of failed requests: {longest_failure(drill.phases, requests)}")
    for check in checks:
        print(check.line())


if __name__ == "__main__":
    main()
