"""Settings from the environment (CONTRACT.md, "Configuration")."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

BROKER_NAMESPACE = "chirp-jobs"  # the Redis broker's key prefix (workers/broker.py)


def _api_processes(database_url: str | None, redis: object) -> int:
    """One beside the embedded servers; on servers of their own, one per core, at most 4 (each
    holds up to 1.5 x DB_POOL_SIZE PostgreSQL connections)."""
    if database_url and redis:
        return min(os.cpu_count() or 1, 4)
    return 1


def _derived_key(secret: str) -> tuple[str, str]:
    """The one key of a plain JWT_SECRET: its kid is derived from it."""
    return hashlib.sha256(b"kid:" + secret.encode()).hexdigest()[:12], secret


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str | None = None
    database_replica_urls: tuple[str, ...] = ()  # streaming replicas for reads (core/replicas.py)
    database_replica_max_lag_seconds: int = 5  # a replica further behind is left out
    redis_url: str | None = None
    # host:port of Redis Cluster nodes: the service uses that cluster instead of REDIS_URL
    redis_cluster_nodes: tuple[str, ...] = ()
    broker_url: str | None = None
    search_url: str | None = None
    search_api_key: str | None = None
    jwt_secret: str | None = None
    jwt_keys: str | None = None  # "kid1:secret1,kid2:secret2": the first signs, all verify
    jwt_audience: str = "chirp-api"
    jwt_leeway_seconds: int = 30
    cors_origins: tuple[str, ...] = ()
    public_url: tuple[str, ...] = ()  # origins clients reach the API at; the first is the default
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    rate_limit_per_minute: int = 1000
    rate_limit_cost_unit: int = 100
    login_failure_limit: int = 10
    login_failure_window_seconds: int = 15 * 60
    tweet_rate_limit: int = 300
    tweet_rate_window_seconds: int = 3 * 3600
    report_rate_limit: int = 20
    report_rate_window_seconds: int = 3600
    worker_id: int | None = None
    worker_lease_seconds: int = 30
    jwt_issuer: str = "chirp"
    jwt_ttl_seconds: int = 7 * 24 * 3600
    edit_window_seconds: int = 30 * 60
    edit_limit: int = 5
    db_pool_size: int = 20
    redis_pool_size: int = 100
    redis_timeout_seconds: int = 1
    hybrid_threshold: int = 10_000
    timeline_ttl_days: int = 7
    cache_ttl_seconds: int = 600
    ws_connections_per_user: int = 10
    ws_subscriptions_per_connection: int = 50
    job_max_retries: int = 8
    job_queue: str = "timelines"
    workers: int = 1
    worker_metrics_port: int | None = None  # a worker process's /metrics (prometheus_client)
    api_processes: int = 1
    drain_seconds: int = 3  # an API process behind the balancer, on SIGTERM (web/drain.py)
    trend_window_hours: int = 24
    query_max_depth: int = 12
    query_max_aliases: int = 30
    query_max_tokens: int = 2000
    query_max_cost: int = 50_000
    introspection: bool = True
    graphql_engine: bool = True  # engine/: else graphql-core's executor completes every field
    # tests: every execution runs through graphql-core too, a difference raises (engine/)
    graphql_engine_differential: bool = False
    graphiql: bool = True
    persisted_queries_only: str | None = None  # path of the allow-list (JSON: hash -> query)
    log_format: str | None = None  # "json" or "text"; None: text on a terminal, else JSON
    http_header_timeout_seconds: int = 10
    http_body_timeout_seconds: int = 10  # the longest pause within a request body
    http_max_header_bytes: int = 32 * 1024
    http_max_headers: int = 100
    max_connections: int | None = None  # open connections per API process; None: from ulimit -n
    media_max_bytes: int = 10 * 1024 * 1024  # the largest image upload (413 past it)
    media_dir: Path | None = None  # None: DATA_DIR/media (resolved_media_dir)
    media_s3_url: str | None = None  # s3://bucket/prefix: images there, not in MEDIA_DIR
    media_public_url: str | None = None  # a CDN base of url/previewUrl; None: the API's /media/
    media_threads: int = 1  # images processed at once by an API process (a core for the rest)

    def __post_init__(self) -> None:
        if self.redis_cluster_nodes:
            from core import redis_clients

            # every client is made from redis_url (core/redis_clients.connect)
            object.__setattr__(
                self, "redis_url", redis_clients.cluster_url(self.redis_cluster_nodes)
            )
            if not (self.broker_url or "").startswith(("amqp://", "amqps://")):
                raise ValueError(
                    "REDIS_CLUSTER_NODES needs BROKER_URL=amqp://... (RabbitMQ): Dramatiq's "
                    "Redis broker runs on one Redis node, not on a cluster."
                )

    @classmethod
    def from_env(cls) -> Settings:
        """Each field from the variable of its name in upper case (WORKER_ID for worker_id);
        an unset or empty variable keeps the field's default, written once, above."""
        given = {
            item.name: _parse(item.name, raw)
            for item in fields(cls)
            if (raw := os.environ.get(item.name.upper(), "").strip())
        }
        if "api_processes" not in given:
            given["api_processes"] = _api_processes(
                given.get("database_url"),
                given.get("redis_url") or given.get("redis_cluster_nodes"),
            )
        return cls(**given)

    @property
    def timeline_ttl_seconds(self) -> int:
        return self.timeline_ttl_days * 24 * 3600

    @property
    def resolved_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    def resolved_jwt_keys(self) -> tuple[tuple[str, str], ...]:
        """(kid, secret) pairs, the signing key first: JWT_KEYS, and after them JWT_SECRET when
        it is set too (so its tokens stay valid after moving to JWT_KEYS); without JWT_KEYS,
        the one secret of resolved_jwt_secret()."""
        if not self.jwt_keys:
            return (_derived_key(self.resolved_jwt_secret()),)
        keys = []
        for entry in self.jwt_keys.split(","):
            kid, _, secret = entry.strip().partition(":")
            if not kid or not secret:
                raise ValueError("JWT_KEYS is a comma-separated list of kid:secret.")
            keys.append((kid, secret))
        if len({kid for kid, _ in keys}) != len(keys):
            raise ValueError("JWT_KEYS lists a kid twice.")
        if self.jwt_secret and _derived_key(self.jwt_secret)[0] not in dict(keys):
            keys.append(_derived_key(self.jwt_secret))
        return tuple(keys)

    def resolved_jwt_secret(self) -> str:
        """JWT_SECRET, else the signing secret of JWT_KEYS, else a secret generated once and kept
        in DATA_DIR. Cursors are signed with it too."""
        if self.jwt_secret:
            return self.jwt_secret
        if self.jwt_keys:
            return self.resolved_jwt_keys()[0][1]
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # the first writer wins when processes race
            tmp.unlink()
        return path.read_text().strip()


_HINTS = get_type_hints(Settings)


def _parse(name: str, raw: str) -> Any:
    """A variable's text as the type of its field."""
    hint = _HINTS[name]
    if hint is bool:
        return raw.lower() not in ("0", "false", "no", "off")
    if hint is int or hint == int | None:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name.upper()} must be a whole number, not {raw!r}.") from None
    if hint is Path or hint == Path | None:
        return Path(raw)
    if hint == tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw  # str, str | None
