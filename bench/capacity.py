"""The capacity plan, computed from the latest benchmark figures: writes docs/capacity.md.

    .venv/bin/python -m bench.capacity [--results bench/results/latest.json]

Every number that comes from a measurement is read from the results; every other number is an
assumption named in the ASSUMPTIONS table, so the plan moves when the figures move.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DESIGN = {
    "daily_users": 500e6,
    "tweets_per_day": 1e9,
    "timeline_views_per_day": 50e9,
    "peak_tweet_writes_per_s": 10_000,
    "tweet_bytes": 512,
}
ASSUMPTIONS = {
    "peak_to_average": 2.0,  # the busiest hour against the daily average
    "target_utilisation": 0.6,  # headroom for spikes and a lost machine
    "cores_per_machine": 32,
    "followers_per_tweet": 200,  # the average fan-out of an account under the hybrid threshold
    "live_timeline_share": 0.5,  # followers active in the last days, who get fan-out
    "redis_ops_per_core_s": 150_000,  # timeline inserts per core, until `fanout` measures it
    "redis_memory_per_node_gb": 256,
    "timeline_entries": 800,
    "bytes_per_timeline_entry": 64,  # a sorted-set entry in a skiplist, with overhead
    "db_share_of_timeline_reads": 0.05,  # deep pages and cold timelines that reach PostgreSQL
    "redis_replicas_per_master": 1,  # as in the tests' cluster: a failover has one to promote
    "db_min_replicas_per_primary": 1,  # one to fail over to, whatever the reads need
    "db_storage_per_node_tb": 10,
    "retention_days": 365 * 3,
}


def _best(results: dict[str, Any], name: str) -> dict[str, Any]:
    """The scenario's row on the production-like backend when measured, else the embedded one."""
    rows = [s for s in results["scenarios"] if s["name"] == name]
    if not rows:
        raise SystemExit(f"no {name} figures in the results: run make bench")
    return next((s for s in rows if s["backend"] == "services"), rows[0])


CLUSTER_MASTERS = 3  # the benchmark's cluster (bench/run.py, tests/redis_cluster.py)


def _fanout_rate(results: dict[str, Any]) -> tuple[float, str] | None:
    """Measured fan-out inserts per second of one Redis master, and where it comes from: a
    third of the cluster's when the cluster was measured, else the single node's."""
    rows = {f["backend"]: f for f in results.get("fanout", [])}
    if "cluster" in rows:
        rate = float(rows["cluster"]["inserts_per_second"]) / CLUSTER_MASTERS
        return rate, f"a {CLUSTER_MASTERS}-master cluster's / {CLUSTER_MASTERS}"
    for backend in ("services", "embedded"):
        if backend in rows:
            return float(rows[backend]["inserts_per_second"]), f"one {backend} node's"
    return None


def plan(results: dict[str, Any]) -> tuple[list[tuple[str, str, float]], str]:
    a, d = ASSUMPTIONS, DESIGN
    read, write = _best(results, "timeline_read"), _best(results, "tweet_write")
    peak_reads = d["timeline_views_per_day"] / 86_400 * a["peak_to_average"]
    per_process_reads = read["throughput"] * a["target_utilisation"]
    per_process_writes = write["throughput"] * a["target_utilisation"]
    api_cores = math.ceil(peak_reads / per_process_reads) + math.ceil(
        d["peak_tweet_writes_per_s"] / per_process_writes
    )
    inserts = d["peak_tweet_writes_per_s"] * a["followers_per_tweet"] * a["live_timeline_share"]
    insert_rate, measured_on = _fanout_rate(results) or (a["redis_ops_per_core_s"], "assumed")
    worker_cores = math.ceil(inserts / (insert_rate * a["target_utilisation"]))
    timeline_bytes = a["timeline_entries"] * a["bytes_per_timeline_entry"]
    redis_memory_gb = d["daily_users"] * timeline_bytes / 1e9
    # a master runs on one core (Redis executes commands on one thread)
    redis_masters = max(
        math.ceil(redis_memory_gb / (a["redis_memory_per_node_gb"] * a["target_utilisation"])),
        worker_cores,
    )
    redis_nodes = redis_masters * (1 + a["redis_replicas_per_master"])
    db_reads = peak_reads * a["db_share_of_timeline_reads"]
    db_read_capacity = read["ceiling_throughput"] * a["cores_per_machine"] * a["target_utilisation"]
    storage_tb = d["tweets_per_day"] * d["tweet_bytes"] * a["retention_days"] / 1e12
    db_primaries = max(
        math.ceil(storage_tb / a["db_storage_per_node_tb"]),
        math.ceil(
            d["peak_tweet_writes_per_s"]
            / (write["ceiling_throughput"] * a["cores_per_machine"] * a["target_utilisation"])
        ),
    )
    replicas_per_primary = max(
        a["db_min_replicas_per_primary"], math.ceil(db_reads / db_read_capacity / db_primaries)
    )
    db_nodes = db_primaries * (1 + replicas_per_primary)
    utilisation = a["target_utilisation"]
    api_how = (
        f"{peak_reads:,.0f} reads/s / ({read['throughput']:,.0f} × {utilisation}) + "
        f"{d['peak_tweet_writes_per_s']:,} writes/s / ({write['throughput']:,.0f} × {utilisation})"
    )
    worker_how = (
        f"{inserts:,.0f} inserts/s / ({insert_rate:,.0f} × {utilisation}) "
        f"(inserts/s of a master: {measured_on})"
    )
    redis_how = (
        f"max({redis_memory_gb:,.0f} GB of timelines / "
        f"({a['redis_memory_per_node_gb']} GB × {utilisation}), {worker_cores} masters of one "
        f"core for the inserts) × {1 + a['redis_replicas_per_master']} (a replica each)"
    )
    db_how = (
        f"{db_primaries} primaries (for {storage_tb:,.0f} TB and "
        f"{d['peak_tweet_writes_per_s']:,} writes/s) × (1 + {replicas_per_primary} replicas: "
        f"max({a['db_min_replicas_per_primary']}, {db_reads:,.0f} reads/s / "
        f"{db_read_capacity:,.0f} per node / {db_primaries}))"
    )
    machines = [
        ("API processes (one per core)", api_how, api_cores / a["cores_per_machine"]),
        ("fan-out workers (one per core)", worker_how, worker_cores / a["cores_per_machine"]),
        ("Redis nodes (masters and replicas)", redis_how, redis_nodes),
        ("PostgreSQL nodes", db_how, db_nodes),
    ]
    bottleneck = max(machines, key=lambda row: row[2])[0]
    return [(name, how, math.ceil(count)) for name, how, count in machines], bottleneck


def render(results: dict[str, Any]) -> str:
    machines, bottleneck = plan(results)
    read, write = _best(results, "timeline_read"), _best(results, "tweet_write")
    total = sum(count for _, _, count in machines)
    lines = [
        "# Capacity plan",
        "",
        "Generated by `python -m bench.capacity` from `bench/results/latest.json` "
        f"(run of {results['started']}); do not edit by hand: `make bench` rewrites it.",
        "",
        "## Measured, per core",
        "",
        f"- `timeline_read`: {read['throughput']:,.0f} req/s per API process "
        f"({read['backend']}, p99 {read['p99_ms']:.1f} ms); the bare-SQL ceiling does "
        f"{read['ceiling_throughput']:,.0f} req/s (ratio {read['ratio']:.2f}).",
        f"- `tweet_write`: {write['throughput']:,.0f} req/s per API process; a bare asyncpg loop "
        f"inserts {write['ceiling_throughput']:,.0f} tweets/s (ratio {write['ratio']:.2f}).",
        "",
        "## The design's load",
        "",
        *[f"- {name.replace('_', ' ')}: {value:,.0f}" for name, value in DESIGN.items()],
        "",
        "## Assumptions",
        "",
        *[f"- {name.replace('_', ' ')}: {value:,}" for name, value in ASSUMPTIONS.items()],
        "",
        "## Machines at peak",
        "",
        f"| component | arithmetic | machines ({ASSUMPTIONS['cores_per_machine']} cores) |",
        "| --- | --- | ---: |",
        *[f"| {name} | {how} | {count:,} |" for name, how, count in machines],
        f"| **total** | | **{total:,}** |",
        "",
        f"The bottleneck is **{bottleneck}**.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "capacity.md")
    args = parser.parse_args()
    text = render(json.loads(args.results.read_text()))
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
