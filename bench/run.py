"""`make bench`: every scenario against a real server process, as a ratio to its ceiling.

    .venv/bin/python -m bench.run [--users 10000] [--seconds 10] [--repeats 3] [--large] [--smoke]
        [--search-tweets 1000000]
        [--only requests|fanout|subscriptions|scaling|search|media ...]

Backends: the embedded default always; the machine's PostgreSQL + Redis when they answer; and
then `cluster` (when RabbitMQ answers too): that PostgreSQL and a Redis Cluster of three masters
with a replica each started for the run (tests/redis_cluster.py), for timeline_read and fanout.
Results: bench/results/latest.json (and a dated copy), results.md and PNG charts; a run of
some scenarios only (--only) writes to var/bench-results unless told --output, or --merge
(its sections replace those of bench/results/latest.json, and the README says from which run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import fanout, media, report, search, subscriptions
from bench.datasets import dataset, forget_writes, newest_tweet, viewer_following
from bench.harness import (
    LoadResult,
    busy_cpu_percent,
    flush_redis,
    measure,
    median,
    metric,
    server,
)
from bench.scenarios import (
    Scenario,
    Users,
    baseline,
    sample_users,
    timeline_read,
    tweet_write,
    user_profile,
)
from core import redis_clients
from core.embedded import EmbeddedServers
from core.security import TokenCodec
from tests.redis_cluster import RedisCluster

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-bench-secret-bench-secret-42"
SERVICES = ("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres", "redis://127.0.0.1:6379/8")
BUSY_PERCENT = 25.0
GROUPS = ["requests", "fanout", "subscriptions", "scaling", "search", "media"]
PARTIAL = ROOT / "var" / "bench-results"  # a run of some scenarios: not the README's figures
SMOKE_SEARCH_TWEETS = 900  # the smoke run's 60 users with their 15 tweets each


@dataclass
class Options:
    users: int
    seconds: float
    warmup: float
    repeats: int
    connections: int
    scales: list[int]
    backends: list[str]
    followers: int = fanout.FOLLOWERS
    subscribers: int = subscriptions.SUBSCRIBERS
    search_tweets: int = search.SEARCH_TWEETS
    only: list[str] = field(default_factory=lambda: list(GROUPS))
    scenarios: list[str] | None = None  # of the requests group: these only (default all)


@dataclass
class Outcome:
    name: str
    backend: str
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    ceiling_throughput: float
    ceiling_p50_ms: float
    ceiling_p99_ms: float
    ratio: float
    spread: float
    errors: int
    users: int
    statements_per_request: float | None = None
    # the API process's CPU time (user + system) per request: what contention hides in req/s
    cpu_ms_per_request: float | None = None
    # beside the physical limit (the same answer from Redis alone), where there is one
    physical_throughput: float | None = None
    physical_p99_ms: float | None = None
    physical_ratio: float | None = None


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def backend_urls(name: str) -> Iterator[tuple[str, str]]:
    if name == "services":
        yield SERVICES
        return
    if name == "cluster":
        cluster = RedisCluster()
        try:
            cluster.start()
            yield SERVICES[0], redis_clients.cluster_url(cluster.nodes.split(","))
        finally:
            cluster.stop()
        return
    servers = EmbeddedServers(ROOT / "var" / "bench")
    servers.start()
    try:
        yield servers.database_url, servers.redis_url
    finally:
        servers.stop()


def _measure(
    run: Callable[[str, float], LoadResult], url: str, options: Options
) -> list[LoadResult]:
    return measure(
        run, url, warmup=options.warmup, seconds=options.seconds, repeats=options.repeats
    )


def _outcome(
    scenario: str, backend: str, users: int, ours: list[LoadResult], ceiling: list[LoadResult]
) -> Outcome:
    throughput = median(ours, "throughput")
    ceiling_throughput = median(ceiling, "throughput")
    rates = [result.throughput for result in ours]
    return Outcome(
        name=scenario,
        backend=backend,
        throughput=throughput,
        p50_ms=median(ours, "p50_ms"),
        p95_ms=median(ours, "p95_ms"),
        p99_ms=median(ours, "p99_ms"),
        ceiling_throughput=ceiling_throughput,
        ceiling_p50_ms=median(ceiling, "p50_ms"),
        ceiling_p99_ms=median(ceiling, "p99_ms"),
        ratio=throughput / ceiling_throughput if ceiling_throughput else 0.0,
        spread=(max(rates) - min(rates)) / throughput if throughput else 0.0,
        errors=sum(result.errors for result in ours),
        users=users,
    )


def _print(outcome: Outcome) -> None:
    print(
        f"  {outcome.name:14} {outcome.backend:9} {outcome.users:>8,} users  "
        f"{outcome.throughput:8.0f} req/s  p50 {outcome.p50_ms:6.1f} ms  "
        f"p99 {outcome.p99_ms:6.1f} ms  "
        f"ceiling {outcome.ceiling_throughput:8.0f} req/s  ratio {outcome.ratio:.2f}  "
        f"spread ±{outcome.spread / 2:.0%}{_physical(outcome)}",
        flush=True,
    )


def _physical(outcome: Outcome) -> str:
    if outcome.physical_throughput is None or outcome.physical_ratio is None:
        return ""
    return (
        f"  physical {outcome.physical_throughput:8.0f} req/s  ratio {outcome.physical_ratio:.2f}"
    )


def _run_dataset(
    backend: str, urls: tuple[str, str], users: int, options: Options, *, writes: bool
) -> list[Outcome]:
    database_url = asyncio.run(dataset(urls[0], users))
    connections = options.connections
    sample = asyncio.run(sample_users(database_url, 500))
    tokens = TokenCodec.for_secret(SECRET, ttl_seconds=24 * 3600)
    env = api_env(database_url, urls[1], users)
    asyncio.run(flush_redis(urls[1]))  # timelines of another dataset must not leak in
    scenarios: list[tuple[str, Scenario]] = [
        ("redis", timeline_read(sample, tokens, connections, urls[1]))
    ]
    if writes:
        scenarios += [
            ("redis", _viewer_timeline(database_url, tokens, connections, following=10)),
            ("redis", _viewer_timeline(database_url, tokens, connections, following=5_000)),
            ("no-redis", replace(timeline_read(sample, tokens, connections), name="timeline_db")),
            ("redis", user_profile(sample, connections)),
            ("redis", tweet_write(sample, tokens, connections, database_url)),
            ("redis", baseline(connections)),
        ]
    if options.scenarios is not None:
        scenarios = [(on, s) for on, s in scenarios if s.name in options.scenarios]
    degraded = env | {"REDIS_URL": "redis://127.0.0.1:1/0"}  # Redis down: the database path
    outcomes = []
    for path, environment in (("redis", env), ("no-redis", degraded)):
        chosen = [scenario for on, scenario in scenarios if on == path]
        if not chosen:
            continue
        with (
            server("app:create_app", environment) as ours,
            server("bench.ceiling:create_app", environment) as ceiling,
        ):
            for scenario in chosen:
                outcome = _scenario(scenario, backend, users, ours, ceiling, options, database_url)
                _print(outcome)
                outcomes.append(outcome)
    return outcomes


def _scenario(
    scenario: Scenario,
    backend: str,
    users: int,
    ours: str,
    ceiling: str,
    options: Options,
    database_url: str,
) -> Outcome:
    since = asyncio.run(newest_tweet(database_url))
    scenario.prime(ours)
    scenario.ours(ours, options.warmup)  # what the measured runs cost starts after it
    statements_before = metric(ours, "db_statements_total")
    cpu_before = metric(ours, "process_cpu_seconds_total")
    ours_results = [scenario.ours(ours, options.seconds) for _ in range(options.repeats)]
    statements = metric(ours, "db_statements_total") - statements_before
    cpu = metric(ours, "process_cpu_seconds_total") - cpu_before
    ceiling_results = _measure(scenario.ceiling, ceiling, options)
    outcome = _outcome(scenario.name, backend, users, ours_results, ceiling_results)
    if scenario.physical is not None:
        physical = _measure(scenario.physical, ceiling, options)
        outcome.physical_throughput = median(physical, "throughput")
        outcome.physical_p99_ms = median(physical, "p99_ms")
        outcome.physical_ratio = outcome.throughput / outcome.physical_throughput
    requests = sum(result.requests for result in ours_results)
    outcome.statements_per_request = statements / requests if requests else None
    outcome.cpu_ms_per_request = 1000 * cpu / requests if requests else None
    if scenario.name == "tweet_write":
        asyncio.run(forget_writes(database_url, since))
    return outcome


def api_env(database_url: str, redis_url: str, users: int) -> dict[str, str]:
    """The environment of the API process under test."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": SECRET,
        "WORKER_ID": "1",
        # the accounts followed by 10% of all users and more are merged at read time
        "HYBRID_THRESHOLD": str(max(users // 10, 10)),
    }


def _viewer_timeline(
    database_url: str, tokens: TokenCodec, connections: int, *, following: int
) -> Scenario:
    viewer, handle = asyncio.run(viewer_following(database_url, following))
    scenario = timeline_read(Users(ids=[viewer], handles=[handle]), tokens, connections)
    return replace(scenario, name=f"timeline_following_{following}")


def _fanout(backend: str, urls: tuple[str, str], options: Options) -> dict[str, object]:
    fan = fanout.run(urls[0], urls[1], followers=options.followers)
    print(
        f"  fanout         {backend:9} {fan.followers:>8,} followers "
        f"{fan.inserts_per_second:10,.0f} inserts/s  ceiling "
        f"{fan.ceiling_inserts_per_second:10,.0f}  ratio {fan.ratio:.2f}  delivery "
        f"{statistics.median(fan.delivery_ms):,.0f} ms",
        flush=True,
    )
    return {"backend": backend, **asdict(fan), "ratio": fan.ratio}


def _subscriptions(backend: str, urls: tuple[str, str], options: Options) -> dict[str, object]:
    delivery = subscriptions.run(urls[0], urls[1], subscribers=options.subscribers)
    print(
        f"  subscription_delivery {backend:9} {delivery.subscribers:,} subscribers "
        f"p50 {delivery.p50_ms:.1f} ms p99 {delivery.p99_ms:.1f} ms "
        f"{delivery.events_per_second:,.0f} events/s "
        f"{delivery.kb_per_connection:.1f} KB/connection "
        f"(ceiling p50 {delivery.ceiling_p50_ms:.1f} p99 {delivery.ceiling_p99_ms:.1f} "
        f"{delivery.ceiling_events_per_second:,.0f} events/s)",
        flush=True,
    )
    return {"backend": backend, **asdict(delivery)}


def _search(backend: str, urls: tuple[str, str], options: Options) -> search.SearchResult:
    database_url = asyncio.run(search.search_dataset(urls[0], options.search_tweets))
    asyncio.run(flush_redis(urls[1]))  # cached tweets of another dataset must not leak in
    load = search.Load(options.seconds, options.warmup, options.repeats, options.connections)
    env = api_env(database_url, urls[1], options.users)
    return search.run(backend, database_url, env, load)


def _media(backend: str, urls: tuple[str, str], options: Options) -> dict[str, object]:
    database_url = asyncio.run(dataset(urls[0], options.users))
    sample = asyncio.run(sample_users(database_url, 500))
    tokens = TokenCodec.for_secret(SECRET, ttl_seconds=24 * 3600)
    env = api_env(database_url, urls[1], options.users)
    found = media.run(
        backend, env, sample, tokens, seconds=options.seconds, connections=options.connections
    )
    print(
        f"  media_upload   {backend:9} {found.megapixels:.0f} MP JPEG "
        f"({found.jpeg_bytes / 2**20:.1f} MiB): {found.process_ms:,.0f} ms, "
        f"+{found.process_peak_mb:,.0f} MB peak; reads {found.reads_per_second_alone:,.0f}/s "
        f"p99 {found.reads_p99_ms_alone:.1f} ms alone, {found.reads_per_second_uploading:,.0f}/s "
        f"p99 {found.reads_p99_ms_uploading:.1f} ms during {found.uploads_per_second:.1f} "
        f"uploads/s (p50 {found.upload_p50_ms:,.0f} ms, {found.upload_errors} errors)",
        flush=True,
    )
    return asdict(found)


def run(options: Options) -> dict[str, object]:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    busy = busy_cpu_percent()
    if busy > BUSY_PERCENT:
        print(f"WARNING: the machine is busy ({busy:.0f}% CPU before the run): figures will be low")
    outcomes: list[Outcome] = []
    scaling: list[Outcome] = []
    fanouts: list[dict[str, object]] = []
    deliveries: list[dict[str, object]] = []
    searches: list[search.SearchResult] = []
    uploads: list[dict[str, object]] = []
    for backend in options.backends:
        print(f"backend {backend}:", flush=True)
        with backend_urls(backend) as urls:
            if backend == "cluster":  # what a cluster changes: reads of timelines, fan-out
                if "requests" in options.only:
                    outcomes += _run_dataset(backend, urls, options.users, options, writes=False)
                if "fanout" in options.only:
                    fanouts.append(_fanout(backend, urls, options))
                continue
            if "requests" in options.only:
                outcomes += _run_dataset(backend, urls, options.users, options, writes=True)
            if "fanout" in options.only:
                fanouts.append(_fanout(backend, urls, options))
            if "subscriptions" in options.only:
                deliveries.append(_subscriptions(backend, urls, options))
            if "search" in options.only:
                searches.append(_search(backend, urls, options))
            if "media" in options.only:
                uploads.append(_media(backend, urls, options))
            for users in options.scales if "scaling" in options.only else []:
                if users != options.users:
                    scaling += _run_dataset(backend, urls, users, options, writes=False)
    scaling += [o for o in outcomes if o.name == "timeline_read"]
    return {
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "busy_cpu_percent_before": busy,
        },
        "started": started,
        "settings": asdict(options),
        "scenarios": [asdict(o) for o in outcomes],
        "scaling": [asdict(o) for o in sorted(scaling, key=lambda o: (o.backend, o.users))],
        "fanout": fanouts,
        "subscriptions": deliveries,
        "media": uploads,
        "search": {
            "datasets": [
                {"backend": r.backend, "tweets": r.tweets, "users": r.users} for r in searches
            ],
            "queries": [asdict(q) for r in searches for q in r.queries],
            "indexing": [asdict(i) for r in searches for i in r.indexing],
            "skipped": [line for r in searches for line in r.skipped],
        },
    }


# the sections of the results each group of scenarios writes
SECTIONS = {
    "requests": ["scenarios"],
    "scaling": ["scaling"],
    "fanout": ["fanout"],
    "subscriptions": ["subscriptions"],
    "search": ["search"],
    "media": ["media"],
}


def merged(full: dict[str, Any], partial: dict[str, Any], only: list[str]) -> dict[str, Any]:
    """The full run's results with the sections of a partial run in their place, each noted
    with the run it came from (the report says so). In a section of rows, the rows it measured
    (the same backend, scenario and users) replace theirs and the others stay."""
    results = dict(full)
    runs = dict(full.get("section_runs", {}))
    for group in only:
        for section in SECTIONS[group]:
            new = partial[section]
            if isinstance(new, list):
                measured = {_row_key(row) for row in new}
                kept = [row for row in full.get(section, []) if _row_key(row) not in measured]
                new = kept + [{**row, "run": partial["started"]} for row in new]
            results[section] = new
            runs[section] = partial["started"]
    results["section_runs"] = runs
    return results


def _row_key(row: dict[str, Any]) -> tuple[object, ...]:
    return row["backend"], row.get("name"), row.get("users")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--large", action="store_true", help="also 1,000,000 users in the scaling run"
    )
    parser.add_argument(
        "--scales",
        type=lambda text: [int(n) for n in text.split(",")],
        help="the data sizes of the scaling run (default 1000,10000,100000)",
    )
    parser.add_argument(
        "--search-tweets",
        type=int,
        default=search.SEARCH_TWEETS,
        help="the size of the search scenario's data set, in tweets",
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds, to check the harness")
    parser.add_argument("--backend", action="append", choices=["embedded", "services", "cluster"])
    parser.add_argument(
        "--only", action="append", choices=GROUPS, help="these scenarios only (repeatable)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        help="of the requests group, this one only (repeatable): timeline_read, baseline...",
    )
    parser.add_argument("--output", type=Path, help=f"default {RESULTS}, with --only {PARTIAL}")
    parser.add_argument(
        "--merge",
        action="store_true",
        help=f"with --only: the sections run replace those of {RESULTS}/latest.json (README too)",
    )
    args = parser.parse_args()
    if args.merge and not args.only:
        parser.error("--merge goes with --only")
    services = answers(5432) and answers(6379)
    backends = args.backend or ["embedded"] + (["services"] if services else []) + (
        ["cluster"] if services and answers(5672) else []
    )
    scales = args.scales or [1_000, 10_000, 100_000] + ([1_000_000] if args.large else [])
    only = args.only or list(GROUPS)
    options = Options(
        args.users,
        args.seconds,
        args.warmup,
        args.repeats,
        args.connections,
        scales,
        backends,
        search_tweets=args.search_tweets,
        only=only,
        scenarios=args.scenario,
    )
    if args.smoke:
        options = replace(
            options,
            users=60,
            seconds=1,
            warmup=1,
            repeats=1,
            connections=4,
            scales=[],
            followers=2_000,
            subscribers=50,
            search_tweets=SMOKE_SEARCH_TWEETS,
        )
    output = args.output or (PARTIAL if args.only and not args.merge else RESULTS)
    results = run(options)
    if args.merge:
        results = merged(json.loads((RESULTS / "latest.json").read_text()), results, only)
    report.write(results, output)
    print(f"results in {output}/latest.json, results.md and the PNG charts beside them")


if __name__ == "__main__":
    main()
