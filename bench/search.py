"""The `search` scenario: `searchTweets` for a word, a hashtag and a phrase, per search engine.

- ours: `searchTweets(query, first: 20)` over HTTP against the API process, driven by wrk like
  the other scenarios: req/s, p50, p99.
- ceiling on PostgreSQL: bench.ceiling's /search, the very statement services/search.py builds
  run through asyncpg, then one statement for the page's tweets and authors; the same JSON.
- ceiling on Meilisearch (when SEARCH_URL is set, services/meili.py exists and Meilisearch
  answers): its HTTP search call itself, sent the request services/meili.py builds for a page.
- indexing, on PostgreSQL: `REINDEX INDEX ix_tweets_search` (the GIN index built again from the
  stored vectors, at the server's maintenance_work_mem) and the generated column's expression,
  `to_tsvector('simple', text)`, over every tweet (read, nothing written); on Meilisearch,
  `make reindex ARGS=--restart`, timed whole. All in tweets per second over every row of
  `tweets`, retweets (no text) included.

The data set has SEARCH_TWEETS tweets by at most SEARCH_USERS users (more tweets each instead of
a bigger follow graph, the slow part of seeding). The generator draws words uniformly from 57
common ones, hashtags Zipf-like from 500, so of the 1,000,000 tweets of seed 1:
- word `love`: 150,502 (15%; every word of the generator is in about 15% of the tweets);
- hashtag `#tag7`: 17,397 (1.7%; #tag0 is in 16%, #tag100 in 0.1%);
- phrase `"good day"`: 2,418 (0.24%).
Each fills the first page many times over; `matches` in the results counts them on each run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx

from bench.ceiling import count_sql, search_statements
from bench.datasets import dataset
from bench.harness import LoadResult, measure, median, metric, server, wrk
from bench.seed import asyncpg_dsn
from bench.seedgen import Plan
from services.search import parse

SEARCH_TWEETS = 1_000_000
SEARCH_USERS = 10_000
QUERIES = {"word": "love", "hashtag": "#tag7", "phrase": '"good day"'}
SEARCH_QUERY = (
    "query Search($query: String!) { searchTweets(query: $query, first: 20) "
    "{ edges { cursor node { id text author { handle } likeCount } } } }"
)
ROOT = Path(__file__).resolve().parent.parent
Run = Callable[[str, float], LoadResult]  # (base URL, seconds): as a Scenario's ours and ceiling


@dataclass(frozen=True)
class Load:
    seconds: float
    warmup: float
    repeats: int
    connections: int

    def measure(self, run: Run, url: str) -> list[LoadResult]:
        return measure(run, url, warmup=self.warmup, seconds=self.seconds, repeats=self.repeats)


@dataclass
class SearchOutcome:
    backend: str
    engine: str
    kind: str
    query: str
    matches: int
    page: int
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
    statements_per_request: float | None = None


@dataclass
class Indexing:
    backend: str
    engine: str
    measured: str
    tweets: int
    seconds: float
    tweets_per_second: float


@dataclass
class SearchResult:
    backend: str
    tweets: int
    users: int
    queries: list[SearchOutcome] = field(default_factory=list)
    indexing: list[Indexing] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def shape(tweets: int) -> tuple[int, float]:
    """Users and tweets per user for at least `tweets` tweets: the default 15 each (a data set
    the other scenarios share) up to SEARCH_USERS users, more each beyond."""
    users = math.ceil(tweets / Plan.tweets_per_user)
    if users <= SEARCH_USERS:
        return users, Plan.tweets_per_user
    return SEARCH_USERS, float(math.ceil(tweets / SEARCH_USERS))


async def search_dataset(server_url: str, tweets: int) -> str:
    users, per_user = shape(tweets)
    return await dataset(server_url, users, tweets_per_user=per_user)


def run(backend: str, database_url: str, env: dict[str, str], load: Load) -> SearchResult:
    """Every engine available here, on the data set at `database_url` (see search_dataset);
    `env` is the API process's environment."""
    counts = asyncio.run(_counts(database_url))
    result = SearchResult(backend, tweets=counts["tweets"], users=counts["users"])
    postgresql = env | {"SEARCH_URL": ""}  # not whatever the bench's own environment says
    with (
        server("app:create_app", postgresql) as ours,
        server("bench.ceiling:create_app", postgresql) as ceiling,
    ):
        for kind, query in QUERIES.items():
            bare = _ceiling_load(query, load.connections)
            outcome = _compare(backend, "postgresql", kind, counts[kind], ours, ceiling, bare, load)
            result.queries.append(outcome)
    rebuild = _postgresql_indexing(backend, database_url, counts["tweets"], load.repeats)
    result.indexing += asyncio.run(rebuild)
    missing = _meilisearch_missing()
    if missing is None:
        _meilisearch(backend, env, load, counts, result)
    else:
        result.skipped.append(f"meilisearch on {backend} skipped: {missing}")
    for indexing in result.indexing:
        print(
            f"  search_index   {backend:9} {indexing.engine:11} {indexing.tweets:>9,} tweets "
            f"{indexing.tweets_per_second:>10,.0f} tweets/s  {indexing.measured}",
            flush=True,
        )
    for line in result.skipped:
        print(f"  {line}", flush=True)
    return result


async def _counts(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        counts = {
            "tweets": int(await connection.fetchval("SELECT count(*) FROM tweets")),
            "users": int(await connection.fetchval("SELECT count(*) FROM users")),
        }
        for kind, query in QUERIES.items():
            statements = await search_statements(query)
            assert statements, query
            sql, params = count_sql(statements[-1])  # the last try searches everything
            counts[kind] = int(await connection.fetchval(sql, *params))
    finally:
        await connection.close()
    return counts


def _graphql_load(query: str, connections: int) -> Run:
    body = json.dumps({"query": SEARCH_QUERY, "variables": {"query": query}})
    return lambda url, seconds: wrk(
        f"{url}/graphql",
        method="POST",
        bodies=[body],
        authorizations=[""],
        seconds=seconds,
        connections=connections,
    )


def _ceiling_load(query: str, connections: int) -> Run:
    return lambda url, seconds: wrk(
        f"{url}/search",
        method="GET",
        bodies=[f"?q={quote(query)}"],
        authorizations=[""],
        seconds=seconds,
        connections=connections,
    )


def _meilisearch_load(query: str, connections: int, key: str) -> Run:
    """Meilisearch's HTTP search, sent the request services/meili.py makes for a first page."""
    from services import meili  # here, not above: the bench runs where it does not exist

    request = meili.tweet_search(parse(query), before=None)
    assert request is not None, query
    body = {
        "q": request.query,
        "filter": request.filter,
        "sort": request.sort,
        "matchingStrategy": request.matching_strategy,
        "attributesToRetrieve": ["id"],
        "limit": 21,
    }
    return lambda url, seconds: wrk(
        f"{url}/indexes/{meili.TWEET_INDEX}/search",
        method="POST",
        bodies=[json.dumps(body)],
        authorizations=[f"Bearer {key}" if key else ""],
        seconds=seconds,
        connections=connections,
    )


def _compare(
    backend: str,
    engine: str,
    kind: str,
    matches: int,
    ours: str,
    ceiling: str,
    bare: Run,
    load: Load,
) -> SearchOutcome:
    """Ours, then the ceiling; ours answers once first, which fills its tweet cache."""
    query = QUERIES[kind]
    body = {"query": SEARCH_QUERY, "variables": {"query": query}}
    answer = httpx.post(f"{ours}/graphql", json=body, timeout=60).json()
    if answer.get("errors"):
        raise RuntimeError(f"searchTweets({query!r}) failed: {answer['errors']}")
    statements_before = metric(ours, "db_statements_total")
    ours_results = load.measure(_graphql_load(query, load.connections), ours)
    statements = metric(ours, "db_statements_total") - statements_before
    ceiling_results = load.measure(bare, ceiling)
    throughput = median(ours_results, "throughput")
    ceiling_throughput = median(ceiling_results, "throughput")
    rates = [result.throughput for result in ours_results]
    requests = sum(result.requests for result in ours_results)
    outcome = SearchOutcome(
        backend=backend,
        engine=engine,
        kind=kind,
        query=query,
        matches=matches,
        page=len(answer["data"]["searchTweets"]["edges"]),
        throughput=throughput,
        p50_ms=median(ours_results, "p50_ms"),
        p95_ms=median(ours_results, "p95_ms"),
        p99_ms=median(ours_results, "p99_ms"),
        ceiling_throughput=ceiling_throughput,
        ceiling_p50_ms=median(ceiling_results, "p50_ms"),
        ceiling_p99_ms=median(ceiling_results, "p99_ms"),
        ratio=throughput / ceiling_throughput if ceiling_throughput else 0.0,
        spread=(max(rates) - min(rates)) / throughput if throughput else 0.0,
        errors=sum(result.errors for result in ours_results + ceiling_results),
        statements_per_request=statements / requests if requests else None,
    )
    print(
        f"  search_{kind:7} {backend:9} {engine:11} {matches:>9,} matches "
        f"{outcome.throughput:7.0f} req/s  p50 {outcome.p50_ms:6.1f} ms  "
        f"p99 {outcome.p99_ms:6.1f} ms  ceiling {outcome.ceiling_throughput:7.0f} req/s  "
        f"p50 {outcome.ceiling_p50_ms:6.1f} ms  p99 {outcome.ceiling_p99_ms:6.1f} ms  "
        f"ratio {outcome.ratio:.2f}",
        flush=True,
    )
    return outcome


_GENERATED = """
SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = 'tweets'::regclass AND a.attname = 'search'
"""


async def _postgresql_indexing(
    backend: str, database_url: str, tweets: int, repeats: int
) -> list[Indexing]:
    """The GIN index built again, and the generated column's expression over every tweet."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        memory = await connection.fetchval("SHOW maintenance_work_mem")
        expression = await connection.fetchval(_GENERATED)  # the migration's, not a copy
        timed = {
            f"REINDEX INDEX ix_tweets_search (maintenance_work_mem {memory})": (
                "REINDEX INDEX ix_tweets_search"
            ),
            f"SELECT count({expression}) FROM tweets (no write)": (
                f"SELECT count({expression}) FROM tweets"
            ),
        }
        found = []
        for measured, statement in timed.items():
            seconds = statistics.median(
                [await _timed(connection, statement) for _ in range(repeats)]
            )
            found.append(
                Indexing(backend, "postgresql", measured, tweets, seconds, tweets / seconds)
            )
    finally:
        await connection.close()
    return found


async def _timed(connection: asyncpg.Connection, statement: str) -> float:
    started = time.perf_counter()
    await connection.execute(statement)
    return time.perf_counter() - started


def _meilisearch_missing() -> str | None:
    if not os.environ.get("SEARCH_URL"):
        return "SEARCH_URL is not set"
    if importlib.util.find_spec("services.meili") is None:
        return "services/meili.py does not exist"
    try:
        httpx.get(f"{os.environ['SEARCH_URL'].rstrip('/')}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as error:
        return f"Meilisearch at SEARCH_URL does not answer ({error})"
    dry_run = subprocess.run(["make", "-n", "reindex"], cwd=ROOT, capture_output=True)
    if dry_run.returncode:
        return "there is no `make reindex` to fill its index with the data set"
    return None


def _meilisearch(
    backend: str, env: dict[str, str], load: Load, counts: dict[str, int], result: SearchResult
) -> None:
    """`make reindex` of the whole data set into Meilisearch (it waits for every batch to be
    applied), timed; then the queries against ours and against Meilisearch's own search."""
    url, key = os.environ["SEARCH_URL"].rstrip("/"), os.environ.get("SEARCH_API_KEY", "")
    meili_env = env | {"SEARCH_URL": url, "SEARCH_API_KEY": key}
    started = time.perf_counter()
    subprocess.run(
        ["make", "reindex", "ARGS=--restart"],
        cwd=ROOT,
        env={**os.environ, **meili_env},
        check=True,
    )
    seconds = time.perf_counter() - started
    tweets = counts["tweets"]
    measured = f"make reindex, its {counts['users']:,} users and process start included"
    result.indexing.append(
        Indexing(backend, "meilisearch", measured, tweets, seconds, tweets / seconds)
    )
    with server("app:create_app", meili_env) as ours:
        for kind, query in QUERIES.items():
            bare = _meilisearch_load(query, load.connections, key)
            outcome = _compare(backend, "meilisearch", kind, counts[kind], ours, url, bare, load)
            result.queries.append(outcome)
