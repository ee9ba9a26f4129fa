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
    "db_replicas_per_primary": 2,
    "db_storage_per_node_tb": 10,
    "retention_days": 365 * 3,
}


def _best(results: dict[str, Any], name: str) -> dict[str, Any]:
    """The scenario's row on the production-like backend when measured, else the embedded one."""
    rows = [s for s in results["scenarios"] if s["name"] == name]
    if not rows:
        raise SystemExit(f"no {name} figures in the results: run make bench")
    return next((s for s in rows if s["backend"] == "services"), rows[0])


def _fanout_rate(results: dict[str, Any]) -> float | None:
    """Measured fan-out inserts per second (production-like backend first), if any."""
    rows = sorted(results.get("fanout", []), key=lambda f: f["backend"] != "services")
    return float(rows[0]["inserts_per_second"]) if rows else None


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
    insert_rate = _fanout_rate(results) or a["redis_ops_per_core_s"]
    worker_cores = math.ceil(inserts / (insert_rate * a["target_utilisation"]))
    redis_cores = worker_cores
    timeline_bytes = a["timeline_entries"] * a["bytes_per_timeline_entry"]
    redis_memory_gb = d["daily_users"] * timeline_bytes / 1e9
    redis_nodes = max(
        math.ceil(redis_memory_gb / (a["redis_memory_per_node_gb"] * a["target_utilisation"])),
        math.ceil(redis_cores / a["cores_per_machine"]),
    )
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
    db_nodes = max(
        db_primaries * (1 + a["db_replicas_per_primary"]), math.ceil(db_reads / db_read_capacity)
    )
    utilisation = a["target_utilisation"]
    api_how = (
        f"{peak_reads:,.0f} reads/s / ({read['throughput']:,.0f} × {utilisation}) + "
        f"{d['peak_tweet_writes_per_s']:,} writes/s / ({write['throughput']:,.0f} × {utilisation})"
    )
    worker_how = f"{inserts:,.0f} inserts/s / ({insert_rate:,.0f} × {utilisation})"
    redis_how = (
        f"max({redis_memory_gb:,.0f} GB of timelines / "
        f"({a['redis_memory_per_node_gb']} GB × {utilisation}), "
        f"{redis_cores} cores / {a['cores_per_machine']})"
    )
    db_how = (
        f"max({db_primaries} primaries × {1 + a['db_replicas_per_primary']} for "
        f"{storage_tb:,.0f} TB and {d['peak_tweet_writes_per_s']:,} writes/s, "
        f"{db_reads:,.0f} reads/s / {db_read_capacity:,.0f} per node)"
    )
    machines = [
        ("API processes (one per core)", api_how, api_cores / a["cores_per_machine"]),
        ("fan-out workers (one per core)", worker_how, worker_cores / a["cores_per_machine"]),
        ("Redis nodes", redis_how, redis_nodes),
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
