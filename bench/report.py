"""Benchmark results as JSON for tools, a Markdown table for people, and PNG charts."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"


def write(results: dict[str, Any], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    (directory / "latest.json").write_text(text)
    newest = max([results["started"], *results.get("section_runs", {}).values()])
    stamp = newest.replace(":", "").replace("-", "")  # a merged run's copy: its newest part
    (directory / f"run-{stamp}.json").write_text(text)
    (directory / "results.md").write_text(markdown(results))
    if results["scenarios"]:  # a run of some scenarios only (--only) may have none
        _throughput_chart(results["scenarios"], directory / "throughput.png")
        _latency_chart(results["scenarios"], directory / "latency.png")
    if results["scaling"]:
        _scaling_chart(results["scaling"], directory / "scaling.png")
    if results.get("search", {}).get("queries"):
        queries = results["search"]["queries"]
        labels = [f"{q['kind']}\n{q['engine']}\n{q['backend']}" for q in queries]
        _latency_chart(queries, directory / "search.png", labels, "searchTweets latency")
    if directory.resolve() == README.parent / "bench" / "results":
        update_readme(markdown(results), "bench")


def update_readme(table: str, name: str) -> None:
    """Puts the table between the README's `name` markers (<!-- name:start --> and
    <!-- name:end -->): figures are never typed in."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = README.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        README.write_text(f"{head}{start}\n{table}{end}{rest.split(end, 1)[1]}")


def _physical(scenario: dict[str, Any]) -> str:
    """The physical ceiling's req/s and our ratio to it; `- | -` where there is none."""
    if scenario.get("physical_throughput") is None:
        return "- | -"
    return f"{scenario['physical_throughput']:,.0f} | {scenario['physical_ratio']:.2f}"


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        f"Run of {results['started']} on {machine['cpus']} CPUs, {machine['memory_gb']} GB "
        f"({machine['busy_cpu_percent_before']:.0f}% CPU busy before the run).",
    ]
    if results["scenarios"]:
        lines += [
            "",
            "| scenario | backend | users | ours req/s | p50 ms | p95 ms | p99 ms | ceiling req/s "
            "| ceiling p99 ms | ratio | physical req/s | physical ratio | SQL/request "
            "| CPU ms/request | spread |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            "| ---: | ---: | ---: |",
        ]
    for s in results["scenarios"]:
        statements = s.get("statements_per_request")
        lines.append(
            f"| {s['name']} | {s['backend']} | {s['users']:,} | {s['throughput']:,.0f} "
            f"| {s['p50_ms']:.1f} | {s['p95_ms']:.1f} | {s['p99_ms']:.1f} "
            f"| {s['ceiling_throughput']:,.0f} | {s['ceiling_p99_ms']:.1f} | {s['ratio']:.2f} "
            f"| {_physical(s)} | {_per_request(statements)} "
            f"| {_per_request(s.get('cpu_ms_per_request'))} | ±{s['spread'] / 2:.0%} |"
        )
    lines += _later_rows(results["scenarios"], results["started"])
    if results["scaling"]:
        lines += [
            "",
            "`timeline_read` as the data grows:" + _run_of(results, "scaling"),
            "",
            "| backend | users | req/s | p50 ms | p99 ms | ceiling p50 ms | ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in results["scaling"]:
            lines.append(
                f"| {s['backend']} | {s['users']:,} | {s['throughput']:,.0f} | {s['p50_ms']:.1f} "
                f"| {s['p99_ms']:.1f} | {s['ceiling_p50_ms']:.1f} | {s['ratio']:.2f} |"
            )
    if results.get("fanout"):
        lines += [
            "",
            "`fanout`: one tweet into every follower's live timeline (the worker's job, follower "
            "lookups included) beside a bare Lua ZADD script on the same Redis; delivery is from "
            "`createTweet` answering to the last follower's timeline holding it, through the "
            "outbox, relay, broker and a worker process." + _run_of(results, "fanout"),
            "",
            "| backend | followers | inserts/s | ceiling inserts/s | ratio | delivery ms, median |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for f in results["fanout"]:
            lines.append(
                f"| {f['backend']} | {f['followers']:,} | {f['inserts_per_second']:,.0f} "
                f"| {f['ceiling_inserts_per_second']:,.0f} | {f['ratio']:.2f} "
                f"| {statistics.median(f['delivery_ms']):,.0f} |"
            )
    if results.get("subscriptions"):
        lines += [
            "",
            "`subscription_delivery`: WebSocket clients on one API process, each subscribed to its "
            "home timeline and following one account that posts: from `createTweet` answering to "
            "each client holding the event; events delivered per second in a burst of posts; "
            "server memory per idle subscribed connection. Ceiling: a bare Starlette WebSocket app "
            "sending a message of the same size to the same clients."
            + _run_of(results, "subscriptions"),
            "",
            "| backend | subscribers | p50 ms | p99 ms | events/s | KB/connection "
            "| ceiling p50 ms | ceiling p99 ms | ceiling events/s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for d in results["subscriptions"]:
            lines.append(
                f"| {d['backend']} | {d['subscribers']:,} | {d['p50_ms']:.1f} | {d['p99_ms']:.1f} "
                f"| {d['events_per_second']:,.0f} | {d['kb_per_connection']:.1f} "
                f"| {d['ceiling_p50_ms']:.1f} | {d['ceiling_p99_ms']:.1f} "
                f"| {d['ceiling_events_per_second']:,.0f} |"
            )
    lines += _search_markdown(results.get("search") or {}, _run_of(results, "search"))
    lines += _media_markdown(results.get("media") or [], _run_of(results, "media"))
    return "\n".join(lines) + "\n"


def _media_markdown(uploads: list[dict[str, Any]], run_of: str) -> list[str]:
    if not uploads:
        return []
    lines = [
        "",
        "`media_upload`: a 12-megapixel JPEG through the image pipeline (decode, orientation, "
        "re-encode, preview, BlurHash), in a fresh process: its time and the peak memory it "
        "adds; then user profile reads (wrk) from an API process while clients upload that "
        "JPEG to it without pause, beside the same reads alone." + run_of,
        "",
        "| backend | JPEG MiB | processing ms | peak MB | reads/s alone | p99 ms "
        "| reads/s uploading | p99 ms | uploads/s | upload p50 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in uploads:
        lines.append(
            f"| {m['backend']} | {m['jpeg_bytes'] / 2**20:.1f} | {m['process_ms']:,.0f} "
            f"| {m['process_peak_mb']:,.0f} | {m['reads_per_second_alone']:,.0f} "
            f"| {m['reads_p99_ms_alone']:.1f} | {m['reads_per_second_uploading']:,.0f} "
            f"| {m['reads_p99_ms_uploading']:.1f} | {m['uploads_per_second']:.1f} "
            f"| {m['upload_p50_ms']:,.0f} |"
        )
    return lines


def _later_rows(rows: list[dict[str, Any]], started: str) -> list[str]:
    """Which run a table's rows come from, when not all from the run of the results (bench.run
    --merge stamps the rows it measured): the run of most, then the others' rows by run."""
    by_run: dict[str, list[str]] = {}
    for row in rows:
        by_run.setdefault(row.get("run", started), []).append(f"{row['name']} ({row['backend']})")
    if set(by_run) <= {started}:
        return []
    most = max(by_run, key=lambda run: len(by_run[run]))
    lines = ["", f"The rows come from the run of {most}"]
    lines[-1] += "".join(
        f"; {', '.join(names)} from the run of {run}"
        for run, names in by_run.items()
        if run != most
    )
    lines[-1] += "."
    return lines


def _run_of(results: dict[str, Any], section: str) -> str:
    """Where a section comes from a later run than the rest (bench.run --only ... --merge)."""
    started = results.get("section_runs", {}).get(section)
    return f" (Run of {started}.)" if started and started != results["started"] else ""


def _search_markdown(search: dict[str, Any], run_of: str) -> list[str]:
    if not search.get("queries") and not search.get("skipped"):
        return []
    sizes = ", ".join(
        f"{d['tweets']:,} tweets by {d['users']:,} users ({d['backend']})"
        for d in search.get("datasets", [])
    )
    lines = [
        "",
        f"`search`: `searchTweets(query, first: 20)` on {sizes}; `matches` is how many tweets "
        "the query finds in all. Ceiling on PostgreSQL: a bare Starlette app running the "
        "statement services/search.py builds, then the page's rows, through asyncpg; on "
        "Meilisearch: its own HTTP search call." + run_of,
        "",
        "| backend | engine | query kind | query | matches | ours req/s | p50 ms | p99 ms "
        "| ceiling req/s | ceiling p50 ms | ceiling p99 ms | ratio | SQL/request | spread |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for q in search["queries"]:
        lines.append(
            f"| {q['backend']} | {q['engine']} | {q['kind']} | `{q['query']}` | {q['matches']:,} "
            f"| {q['throughput']:,.0f} | {q['p50_ms']:.1f} | {q['p99_ms']:.1f} "
            f"| {q['ceiling_throughput']:,.0f} | {q['ceiling_p50_ms']:.1f} "
            f"| {q['ceiling_p99_ms']:.1f} | {q['ratio']:.2f} "
            f"| {_per_request(q.get('statements_per_request'))} | ±{q['spread'] / 2:.0%} |"
        )
    if search.get("indexing"):
        lines += [
            "",
            "Indexing, in tweets per second over every tweet (median of the runs):",
            "",
            "| backend | engine | measured | tweets | seconds | tweets/s |",
            "| --- | --- | --- | ---: | ---: | ---: |",
        ]
        for i in search["indexing"]:
            lines.append(
                f"| {i['backend']} | {i['engine']} | {i['measured']} | {i['tweets']:,} "
                f"| {i['seconds']:.2f} | {i['tweets_per_second']:,.0f} |"
            )
    if search.get("skipped"):
        lines += ["", *(f"- {line}" for line in search["skipped"])]
    return lines


def _per_request(statements: float | None) -> str:
    return "-" if statements is None else f"{statements:.1f}"


def _labels(scenarios: list[dict[str, Any]]) -> list[str]:
    return [f"{s['name']}\n{s['backend']}" for s in scenarios]


def _throughput_chart(scenarios: list[dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(max(6, 1.6 * len(scenarios)), 4))
    positions = range(len(scenarios))
    axes.bar([p - 0.2 for p in positions], [s["throughput"] for s in scenarios], 0.4, label="ours")
    axes.bar(
        [p + 0.2 for p in positions],
        [s["ceiling_throughput"] for s in scenarios],
        0.4,
        label="ceiling",
    )
    for p, s in zip(positions, scenarios, strict=True):
        axes.annotate(
            f"{s['ratio']:.2f}", (p - 0.2, s["throughput"]), ha="center", va="bottom", fontsize=8
        )
    axes.set_xticks(list(positions), _labels(scenarios), fontsize=8)
    axes.set_ylabel("requests per second")
    axes.set_title("Throughput: ours beside the ceiling (ratio above our bar)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _latency_chart(
    scenarios: list[dict[str, Any]],
    path: Path,
    labels: list[str] | None = None,
    title: str = "Latency",
) -> None:
    figure, axes = plt.subplots(figsize=(max(6, 1.6 * len(scenarios)), 4))
    positions = range(len(scenarios))
    for offset, key, label in [
        (-0.3, "p50_ms", "ours p50"),
        (-0.1, "p99_ms", "ours p99"),
        (0.1, "ceiling_p50_ms", "ceiling p50"),
        (0.3, "ceiling_p99_ms", "ceiling p99"),
    ]:
        axes.bar([p + offset for p in positions], [s[key] for s in scenarios], 0.2, label=label)
    axes.set_xticks(list(positions), labels or _labels(scenarios), fontsize=8)
    axes.set_ylabel("milliseconds")
    axes.set_title(f"{title}: ours beside the ceiling")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _scaling_chart(scaling: list[dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(6, 4))
    for backend in sorted({s["backend"] for s in scaling}):
        points = [s for s in scaling if s["backend"] == backend]
        users = [s["users"] for s in points]
        axes.plot(users, [s["p50_ms"] for s in points], marker="o", label=f"{backend} p50")
        axes.plot(
            users, [s["p99_ms"] for s in points], marker="o", linestyle="--", label=f"{backend} p99"
        )
    axes.set_xscale("log")
    axes.set_xlabel("seeded users")
    axes.set_ylabel("timeline_read latency, ms")
    axes.set_title("timeline_read latency as the data grows")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":  # regenerate the table, charts and README section from latest.json
    results_dir = README.parent / "bench" / "results"
    write(json.loads((results_dir / "latest.json").read_text()), results_dir)
