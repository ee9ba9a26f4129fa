"""Two bench runs side by side, per scenario and backend: what a change did.

    .venv/bin/python -m bench.compare BEFORE.json [AFTER.json] [--readme]

AFTER defaults to bench/results/latest.json; --readme puts the table between the README's
compare markers (its figures are never typed in either).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.report import README, update_readme

_LATEST = README.parent / "bench" / "results" / "latest.json"


def _rows(results: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = {(s["name"], s["backend"]): s for s in results["scenarios"]}
    for d in results.get("subscriptions") or []:
        rows[("subscription_delivery", d["backend"])] = {
            "throughput": d["events_per_second"],
            "p99_ms": d["p99_ms"],
            "ratio": d["events_per_second"] / d["ceiling_events_per_second"],
        }
    return rows


def _newest(results: dict[str, Any]) -> str:
    return str(max([results["started"], *results.get("section_runs", {}).values()]))


def _cell(scenario: dict[str, Any] | None, key: str, form: str) -> str:
    value = None if scenario is None else scenario.get(key)
    return "-" if value is None else format(value, form)


def markdown(before: dict[str, Any], after: dict[str, Any]) -> str:
    old, new = _rows(before), _rows(after)
    lines = [
        f"Before: run of {_newest(before)}; after: run of {_newest(after)} (a merged run's "
        "newest section: the table of the benchmarks says which comes from which run). req/s "
        "for subscription_delivery is events/s, its ratio to the bare WebSocket app's.",
        "",
        "| scenario | backend | req/s before | req/s after | p99 ms before | p99 ms after "
        "| ratio before | ratio after | SQL/request before | SQL/request after "
        "| CPU ms/request before | CPU ms/request after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in [*old, *(k for k in new if k not in old)]:
        was, now = old.get(key), new.get(key)
        lines.append(
            f"| {key[0]} | {key[1]} "
            + " ".join(
                f"| {_cell(was, field, form)} | {_cell(now, field, form)}"
                for field, form in (
                    ("throughput", ",.0f"),
                    ("p99_ms", ".1f"),
                    ("ratio", ".2f"),
                    ("statements_per_request", ".1f"),
                    ("cpu_ms_per_request", ".2f"),
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path, nargs="?", default=_LATEST)
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    table = markdown(*(json.loads(p.read_text()) for p in (args.before, args.after)))
    print(table, end="")
    if args.readme:
        update_readme(table, "compare")


if __name__ == "__main__":
    main()
