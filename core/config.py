"""Settings from the environment (CONTRACT.md, "Configuration")."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

BROKER_NAMESPACE = "chirp-jobs"  # the Redis broker's key prefix (workers/broker.py)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    return raw not in ("0", "false", "no", "off")


def _opt(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


def _api_processes(database_url: str | None, redis_url: str | None) -> int:
    """One beside the embedded servers; on servers of their own, one per core, at most 4 (each
    holds up to 1.5 x DB_POOL_SIZE PostgreSQL connections)."""
    if database_url and redis_url:
        return min(os.cpu_count() or 1, 4)
    return 1


def _list(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())


def _derived_key(secret: str) -> tuple[str, str]:
    """The one key of a plain JWT_SECRET: its kid is derived from it."""
    return hashlib.sha256(b"kid:" + secret.encode()).hexdigest()[:12], secret


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    broker_url: str | None = None
    search_url: str | None = None
    search_api_key: str | None = None
    jwt_secret: str | None = None
    jwt_keys: str | None = None  # "kid1:secret1,kid2:secret2": the first signs, all verify
    jwt_audience: str = "chirp-api"
    jwt_leeway_seconds: int = 30
    cors_origins: tuple[str, ...] = ()
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    rate_limit_per_minute: int = 1000
    rate_limit_cost_unit: int = 100
    login_failure_limit: int = 10
    login_failure_window_seconds: int = 15 * 60
    tweet_rate_limit: int = 300
    tweet_rate_window_seconds: int = 3 * 3600
    worker_id: int | None = None
    jwt_issuer: str = "chirp"
    jwt_ttl_seconds: int = 7 * 24 * 3600
    tweet_max_length: int = 280
    edit_window_seconds: int = 30 * 60
    edit_limit: int = 5
    page_max: int = 100
    db_pool_size: int = 20
    redis_pool_size: int = 100
    hybrid_threshold: int = 10_000
    timeline_ttl_days: int = 7
    cache_ttl_seconds: int = 600
    ws_connections_per_user: int = 10
    ws_subscriptions_per_connection: int = 20
    job_max_retries: int = 8
    job_queue: str = "timelines"
    workers: int = 1
    api_processes: int = 1
    trend_window_hours: int = 24
    query_max_depth: int = 12
    query_max_aliases: int = 30
    query_max_tokens: int = 2000
    query_max_cost: int = 50_000
    introspection: bool = True
    graphiql: bool = True
    persisted_queries_only: str | None = None  # path of the allow-list (JSON: hash -> query)

    @classmethod
    def from_env(cls) -> Settings:
        worker = _opt("WORKER_ID")
        database_url, redis_url = _opt("DATABASE_URL"), _opt("REDIS_URL")
        return cls(
            host=os.environ.get("HOST", "127.0.0.1"),
            port=_int("PORT", 8000),
            data_dir=Path(os.environ.get("DATA_DIR", "./var")),
            database_url=database_url,
            redis_url=redis_url,
            broker_url=_opt("BROKER_URL"),
            search_url=_opt("SEARCH_URL"),
            search_api_key=_opt("SEARCH_API_KEY"),
            jwt_secret=_opt("JWT_SECRET"),
            jwt_keys=_opt("JWT_KEYS"),
            jwt_issuer=os.environ.get("JWT_ISSUER") or "chirp",
            jwt_audience=os.environ.get("JWT_AUDIENCE") or "chirp-api",
            jwt_leeway_seconds=_int("JWT_LEEWAY_SECONDS", 30),
            cors_origins=_list("CORS_ORIGINS"),
            tls_certfile=_opt("TLS_CERTFILE"),
            tls_keyfile=_opt("TLS_KEYFILE"),
            rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", 1000),
            rate_limit_cost_unit=_int("RATE_LIMIT_COST_UNIT", 100),
            login_failure_limit=_int("LOGIN_FAILURE_LIMIT", 10),
            login_failure_window_seconds=_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60),
            tweet_rate_limit=_int("TWEET_RATE_LIMIT", 300),
            tweet_rate_window_seconds=_int("TWEET_RATE_WINDOW_SECONDS", 3 * 3600),
            worker_id=int(worker) if worker else None,
            edit_window_seconds=_int("EDIT_WINDOW_SECONDS", 30 * 60),
            edit_limit=_int("EDIT_LIMIT", 5),
            db_pool_size=_int("DB_POOL_SIZE", 20),
            redis_pool_size=_int("REDIS_POOL_SIZE", 100),
            hybrid_threshold=_int("HYBRID_THRESHOLD", 10_000),
            timeline_ttl_days=_int("TIMELINE_TTL_DAYS", 7),
            cache_ttl_seconds=_int("CACHE_TTL_SECONDS", 600),
            ws_connections_per_user=_int("WS_CONNECTIONS_PER_USER", 10),
            ws_subscriptions_per_connection=_int("WS_SUBSCRIPTIONS_PER_CONNECTION", 20),
            job_max_retries=_int("JOB_MAX_RETRIES", 8),
            job_queue=os.environ.get("JOB_QUEUE") or "timelines",
            workers=_int("WORKERS", 1),
            api_processes=_int("API_PROCESSES", _api_processes(database_url, redis_url)),
            trend_window_hours=_int("TREND_WINDOW_HOURS", 24),
            query_max_depth=_int("QUERY_MAX_DEPTH", 12),
            query_max_aliases=_int("QUERY_MAX_ALIASES", 30),
            query_max_tokens=_int("QUERY_MAX_TOKENS", 2000),
            query_max_cost=_int("QUERY_MAX_COST", 50_000),
            introspection=_bool("INTROSPECTION", True),
            graphiql=_bool("GRAPHIQL", True),
            persisted_queries_only=_opt("PERSISTED_QUERIES_ONLY"),
        )

    @property
    def timeline_ttl_seconds(self) -> int:
        return self.timeline_ttl_days * 24 * 3600

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
