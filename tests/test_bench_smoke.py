"""A few seconds of `make bench`, so the harness cannot rot; and the ceilings answer alike."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench import report
from bench.datasets import dataset
from bench.harness import server
from bench.run import api_env, merged
from bench.scenarios import (
    BASELINE_QUERY,
    PROFILE_QUERY,
    TIMELINE_QUERY,
    _prime_timelines,
    sample_users,
)
from bench.search import QUERIES, SEARCH_QUERY
from core.security import TokenCodec
from tests.conftest import BACKEND

ROOT = Path(__file__).resolve().parent.parent


def _need_wrk() -> None:
    if shutil.which("wrk") is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("wrk is needed for the benchmark harness (apt-get install wrk)")
        pytest.skip("wrk not installed (apt-get install wrk)")


def test_bench_smoke(tmp_path: Path) -> None:
    _need_wrk()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--smoke",
            "--backend",
            BACKEND,
            "--output",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    names = {(s["name"], s["backend"]) for s in results["scenarios"]}
    [fanout] = results["fanout"]
    assert fanout["followers"] == 2_000 and len(fanout["delivery_ms"]) == 3
    assert fanout["inserts_per_second"] > 0 and fanout["ratio"] > 0
    if BACKEND == "cluster":  # what a cluster changes only: timelines read, fan-out
        assert names == {("timeline_read", "cluster")}
        assert results["subscriptions"] == results["media"] == []
        return
    expected = ["timeline_read", "timeline_db", "user_profile", "tweet_write"]
    expected += ["timeline_following_10", "timeline_following_5000", "baseline"]
    assert names == {(n, BACKEND) for n in expected}
    [delivery] = results["subscriptions"]
    assert delivery["subscribers"] == 50
    assert 0 <= delivery["p50_ms"] <= delivery["p99_ms"] and delivery["events_per_second"] > 0
    assert delivery["ceiling_events_per_second"] > 0 and delivery["kb_per_connection"] > 0
    [upload] = results["media"]
    assert upload["megapixels"] == 12 and upload["process_ms"] > 0 and upload["process_peak_mb"] > 0
    assert upload["uploads_per_second"] > 0 and upload["upload_errors"] == 0
    assert upload["reads_per_second_alone"] > 0 and upload["reads_per_second_uploading"] > 0
    search = results["search"]
    assert [(q["kind"], q["engine"]) for q in search["queries"]] == [
        (kind, "postgresql") for kind in QUERIES
    ]
    assert [i["engine"] for i in search["indexing"]] == ["postgresql", "postgresql"]
    assert all(i["tweets"] >= 900 and i["tweets_per_second"] > 0 for i in search["indexing"])
    if not os.environ.get("SEARCH_URL"):
        assert search["skipped"] == [f"meilisearch on {BACKEND} skipped: SEARCH_URL is not set"]
    [timeline] = [s for s in results["scenarios"] if s["name"] == "timeline_read"]
    assert timeline["physical_throughput"] > 0 and timeline["physical_ratio"] > 0
    for scenario in results["scenarios"] + search["queries"]:
        assert scenario["throughput"] > 0 and scenario["ceiling_throughput"] > 0
        assert scenario["errors"] == 0
        assert scenario["p50_ms"] <= scenario["p95_ms"] <= scenario["p99_ms"]
    assert {"throughput.png", "latency.png", "scaling.png", "search.png", "results.md"} <= {
        p.name for p in tmp_path.iterdir()
    }


def test_ceilings_answer_with_identical_json(servers: tuple[str, str]) -> None:
    database_url = asyncio.run(dataset(servers[0], 60, progress=False))
    users = asyncio.run(sample_users(database_url, 5))
    env = api_env(database_url, servers[1], 60)
    tokens = TokenCodec.for_secret(env["JWT_SECRET"], ttl_seconds=600)
    with server("app:create_app", env) as ours, server("bench.ceiling:create_app", env) as ceiling:
        bearers = [(user_id, f"Bearer {tokens.issue(user_id)}") for user_id in users.ids]
        _prime_timelines(ours, bearers, servers[1])  # the physical ceiling's pages
        for user_id, handle in zip(users.ids, users.handles, strict=True):
            auth = {"authorization": f"Bearer {tokens.issue(user_id)}"}
            graphql = httpx.post(f"{ours}/graphql", json={"query": TIMELINE_QUERY}, headers=auth)
            bare = httpx.get(f"{ceiling}/timeline", headers=auth)
            assert same_answer(graphql, bare)
            physical = httpx.get(f"{ceiling}/timeline/redis", headers=auth)
            assert same_answer(graphql, physical)
            assert _without_extensions(graphql) == physical.content  # byte for byte
            assert len(graphql.json()["data"]["homeTimeline"]["edges"]) > 0
            body = {"query": PROFILE_QUERY, "variables": {"handle": handle}}
            graphql = httpx.post(f"{ours}/graphql", json=body)
            bare = httpx.get(f"{ceiling}/profile", params={"handle": handle})
            assert same_answer(graphql, bare)
        for query in [*QUERIES.values(), "love #tag0", "no-such-word", " "]:
            body = {"query": SEARCH_QUERY, "variables": {"query": query}}
            graphql = httpx.post(f"{ours}/graphql", json=body)
            bare = httpx.get(f"{ceiling}/search", params={"q": query})
            assert same_answer(graphql, bare), query
        assert len(graphql.json()["data"]["searchTweets"]["edges"]) == 0
        love = {"query": SEARCH_QUERY, "variables": {"query": QUERIES["word"]}}
        edges = httpx.post(f"{ours}/graphql", json=love).json()["data"]["searchTweets"]["edges"]
        assert len(edges) == 20  # a full page, as on the benchmark's data set
        graphql = httpx.post(f"{ours}/graphql", json={"query": BASELINE_QUERY})
        bare = httpx.get(f"{ceiling}/typename")
        assert same_answer(graphql, bare)
        assert _without_extensions(graphql) == bare.content


def test_profile_shares_own_and_total_time(tmp_path: Path) -> None:
    from bench.profile import _collapsed, top_frames

    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (app.py:1);serve (a/x.py:2);run (g/e.py:3) 3\n"
        "main (app.py:1);serve (a/x.py:2) 1\nmain (app.py:1);gc (g/c.py:9) 4\n"
    )
    own, total, packages = top_frames(_collapsed(raw), 2)
    assert own == [("gc (g/c.py:9)", 0.5), ("run (g/e.py:3)", 0.375)]
    assert sorted(total) == [("gc (g/c.py:9)", 0.5), ("serve (a/x.py:2)", 0.5)]  # main: in all
    assert packages == [("g", 0.875), ("a", 0.125)]


def _without_extensions(graphql: httpx.Response) -> bytes:
    """Our answer's bytes up to its `extensions` (the cost), closed as the bare ones are."""
    head, _, _ = graphql.content.partition(b',"extensions":')
    return head + b"}"


def same_answer(graphql: httpx.Response, bare: httpx.Response) -> bool:
    """The same answer; ours also reports the query's cost in `extensions`."""
    ours = graphql.json()
    ours.pop("extensions")
    return bool(ours == bare.json())


def test_a_merged_partial_run_replaces_its_sections_and_says_so() -> None:
    full = {
        "started": "2026-01-01T00:00:00+00:00",
        "machine": {"cpus": 2, "memory_gb": 1.0, "busy_cpu_percent_before": 0.0},
        "scenarios": [],
        "scaling": [],
        "fanout": [{"backend": "old"}],
        "subscriptions": [{"backend": "new"}],  # the row the partial run measures again
        "search": {},
    }
    delivery = {
        "backend": "new",
        "subscribers": 10,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "events_per_second": 3.0,
        "kb_per_connection": 4.0,
        "ceiling_p50_ms": 1.0,
        "ceiling_p99_ms": 2.0,
        "ceiling_events_per_second": 3.0,
    }
    partial = {**full, "started": "2026-02-02T00:00:00+00:00", "subscriptions": [delivery]}
    results = merged(full, partial, ["subscriptions"])
    assert results["fanout"] == [{"backend": "old"}]
    later = partial["started"]
    assert results["subscriptions"] == [{**delivery, "run": later}]  # stamped with its run
    elsewhere = merged(
        {**full, "subscriptions": [{**delivery, "backend": "old"}, delivery]},
        {**partial, "subscriptions": [{**delivery, "p99_ms": 9.0}]},
        ["subscriptions"],
    )  # the rows it measured replace theirs, the others stay
    assert elsewhere["subscriptions"] == [
        {**delivery, "backend": "old"},
        {**delivery, "p99_ms": 9.0, "run": later},
    ]
    assert results["started"] == full["started"]
    text = report.markdown({**results, "fanout": []})
    assert "Run of 2026-01-01" in text.splitlines()[0]
    assert "sending a message of the same size to the same clients. (Run of 2026-02-02" in text
