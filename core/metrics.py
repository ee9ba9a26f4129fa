"""Every Prometheus metric of the service, in one place (served at /metrics).

Per-process figures are counted where they happen. Figures of the whole deployment (outbox
backlog, broker queue depth, fan-out lag measured by the workers) are read from PostgreSQL and
Redis when /metrics is scraped (web/health.py), so any API process shows them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LAG_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "path", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "path"], buckets=_SECONDS
)
OPERATIONS = Counter(
    "graphql_operations_total", "GraphQL operations executed", ["operation", "type"]
)
OPERATION_LATENCY = Histogram(
    "graphql_operation_duration_seconds",
    "GraphQL operation latency, parse to result",
    ["operation", "type"],
    buckets=_SECONDS,
)
RATE_LIMITED = Counter("rate_limited_total", "Requests refused by a rate limit", ["limit"])
ERRORS = Counter("graphql_errors_total", "GraphQL errors answered, by code", ["code"])
STATEMENTS = Counter("db_statements_total", "SQL statements sent to PostgreSQL")
DB_POOL = Gauge("db_pool_connections", "Database connections of this process", ["state"])
CACHE = Counter("cache_requests_total", "Redis cache lookups", ["kind", "result"])
WEBSOCKETS = Gauge("websocket_connections", "Open GraphQL WebSocket connections")
SUBSCRIPTIONS = Gauge("subscriptions_active", "Running GraphQL subscriptions")
EVENTS = Counter("subscription_events_total", "Events sent to subscribers", ["topic"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox records not yet handed to the broker")
QUEUE_DEPTH = Gauge(
    "broker_queue_depth", "Jobs not yet done in the broker's queue (RabbitMQ: not yet taken)"
)
LOOP_RESTARTS = Counter(
    "background_loop_restarts_total",
    "Background loops restarted after an unexpected exception (core/tasks.py)",
    ["loop"],
)
RELAY_OUTAGES = Counter(
    "outbox_relay_outages_total",
    "Outages the outbox relay went through: handing events over failed (send), or its LISTEN "
    "connection was lost (listen)",
    ["kind"],
)
RELAY_RETRIES = Counter(
    "outbox_relay_retries_total", "Failed attempts of the outbox relay, each retried", ["kind"]
)
FANOUT_LAG = "fanout_lag_seconds"  # a histogram kept in Redis by the workers: web/health.py
EFFECT_FAILURES = Counter(
    "effects_failed_total",
    "Effects of a commit that failed after it (the outbox job redoes them)",
    ["effect"],
)
ENGINE_FALLBACKS = Counter(
    "graphql_engine_fallbacks_total",
    "Executions (or values) the GraphQL engine left to graphql-core's executor (engine/)",
    ["reason"],
)
DB_READS = Counter(
    "db_reads_total",
    "Connections taken for a request's reads, by where they went (DATABASE_REPLICA_URLS)",
    ["target"],
)
REPLICA_LAG = Gauge(
    "db_replica_lag_seconds", "How far a read replica is behind the primary", ["replica"]
)
REPLICA_USABLE = Gauge(
    "db_replica_usable", "1 while a read replica takes reads, 0 while it is left out", ["replica"]
)
REPLICA_LEFT_OUT = Counter(
    "db_replica_left_out_total",
    "Times a read replica was left out: down, lag (past the bound), not_standby",
    ["replica", "reason"],
)


_series: dict[tuple[int, tuple[str, ...]], Any] = {}


def series(metric: M, *labels: str) -> M:
    """`metric.labels(*labels)`, kept: prometheus_client checks and locks on every call. For
    labels of a bounded set only (every metric's here is)."""
    key = (id(metric), labels)
    found = _series.get(key)
    if found is None:
        found = _series[key] = metric.labels(*labels)
    return found
