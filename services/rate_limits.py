"""Rate limits in Redis, shared by every API process: GCRA (the generic cell rate algorithm).

A limit of `limit` units per `period` lets a burst of `limit` through, then one unit every
`period / limit` seconds: one key per limited thing holds its theoretical arrival time (TAT),
and expires when the limit is whole again. The script reads the server's clock, so the clocks
of the API processes do not matter. When Redis is down the limits are not enforced (a warning
once a minute): an outage of Redis must not become an outage of the API.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.config import Settings
from core.errors import RateLimited
from core.metrics import RATE_LIMITED
from core.scripts import Script

log = logging.getLogger(__name__)

LOGIN_FAILURES = "login"  # per handle, lower case
TWEETS = "tweet"  # per author
REPORTS = "report"  # per reporter
CLIENT = "client"  # per user when signed in, else per IP address
_PREFIX = "ratelimit"
_WARN_EVERY_SECONDS = 60.0

# KEYS[1]: the limited thing. ARGV: limit, period (ms), cost, record (1: keep the take).
# A negative cost gives units back (always allowed). Returns {allowed (1/0), remaining,
# retry after (ms), reset (ms)}.
_GCRA = Script("""
if redis.replicate_commands then redis.replicate_commands() end
local limit, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, record = tonumber(ARGV[3]), ARGV[4] == '1'
local interval = period / limit
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - period
if allow_at > now then
  local remaining = math.floor((now + period - tat) / interval + 1e-6)
  return {0, remaining, math.ceil(allow_at - now), math.ceil(tat - now)}
end
if record and cost ~= 0 then
  tat = new_tat
  if tat > now then
    redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
  else
    tat = now
    redis.call('DEL', KEYS[1])
  end
end
local remaining = math.floor((now + period - tat) / interval + 1e-6)
return {1, remaining, 0, math.ceil(tat - now)}
""")


@dataclass(frozen=True)
class Rate:
    limit: int  # units per period, and the largest burst; 0 or less: no limit
    period: float  # seconds


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int  # units left now
    retry_after: int  # whole seconds until this take would pass; 0 when allowed
    reset: int  # whole seconds until the whole limit is available again


@dataclass
class ClientBudget:
    """One request's client, as the ASGI middleware found it (scope state CLIENT_BUDGET)."""

    address: str  # the IP address, keying anonymous requests
    prepaid: int  # units the middleware already took for this request (0 on a WebSocket)
    decision: Decision | None = None  # the latest, for the X-RateLimit-* headers


CLIENT_BUDGET = "client_budget"  # the key of ClientBudget in the ASGI scope's state


def key(kind: str, ident: str) -> str:
    return f"{_PREFIX}:{kind}:{ident}"


def client_key(user_id: int | None, address: str) -> str:
    return f"user:{user_id}" if user_id is not None else f"ip:{address}"


def weight(estimated_cost: int, cost_unit: int) -> int:
    """Budget units of one operation: one per started `cost_unit` of its estimated cost."""
    return max(1, math.ceil(estimated_cost / cost_unit)) if cost_unit > 0 else 1


class Limiter:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.login_failures = Rate(
            settings.login_failure_limit, settings.login_failure_window_seconds
        )
        self.tweets = Rate(settings.tweet_rate_limit, settings.tweet_rate_window_seconds)
        self.reports = Rate(settings.report_rate_limit, settings.report_rate_window_seconds)
        self.requests = Rate(settings.rate_limit_per_minute, 60)

    async def take(self, kind: str, ident: str, *, rate: Rate, cost: int = 1) -> Decision:
        """Takes `cost` units when they are there; takes nothing when refused."""
        return await self._run(kind, ident, rate, cost, record=True)

    async def give_back(self, kind: str, ident: str, *, rate: Rate, cost: int = 1) -> Decision:
        """Returns `cost` units an earlier `take` took, as if it had never been."""
        return await self._run(kind, ident, rate, -cost, record=True)

    async def peek(self, kind: str, ident: str, *, rate: Rate, cost: int = 1) -> Decision:
        """Whether `take` would pass now, taking nothing."""
        return await self._run(kind, ident, rate, cost, record=False)

    async def enforce(self, kind: str, ident: str, *, rate: Rate, cost: int = 1) -> Decision:
        """`take`, raising RATE_LIMITED when refused."""
        decision = await self.take(kind, ident, rate=rate, cost=cost)
        if not decision.allowed:
            raise refusal(kind, decision)
        return decision

    async def _run(self, kind: str, ident: str, rate: Rate, cost: int, *, record: bool) -> Decision:
        if rate.limit <= 0:
            return Decision(True, 0, 0, 0, 0)
        args = [rate.limit, round(rate.period * 1000), cost, 1 if record else 0]
        try:
            allowed, remaining, retry_ms, reset_ms = await _GCRA(
                self.redis, [key(kind, ident)], args
            )
        except RedisError as error:
            _warn_open(error)
            return Decision(True, rate.limit, rate.limit, 0, 0)
        retry_after = max(1, math.ceil(retry_ms / 1000)) if not allowed else 0
        return Decision(
            bool(allowed), rate.limit, remaining, retry_after, math.ceil(reset_ms / 1000)
        )


_MESSAGES = {
    LOGIN_FAILURES: "Too many failed sign-ins for this handle; try again later.",
    REPORTS: "Too many reports; try again later.",
    TWEETS: "Too many tweets; try again later.",
    CLIENT: "Too many requests; slow down.",
}


def refusal(kind: str, decision: Decision) -> RateLimited:
    """The error of a refused take, counted in rate_limited_total{limit=kind}."""
    RATE_LIMITED.labels(kind).inc()
    return RateLimited(_MESSAGES.get(kind, "Too many requests."), retry_after=decision.retry_after)


_warned_at = -math.inf


def _warn_open(error: RedisError) -> None:
    global _warned_at
    now = time.monotonic()
    if now - _warned_at >= _WARN_EVERY_SECONDS:
        _warned_at = now
        log.warning("rate limits: Redis failed (%s); requests are let through", error)
