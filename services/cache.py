"""A read-through cache in Redis that stays exact while writers change what it holds.

Values are JSON under `c:{kind}:{id}` with a TTL (the embedded Redis evicts them by LFU first:
`volatile-lfu`). A miss takes a lease (`...:lease`, a random token) before loading from the
database; the fill lands only while that lease is still there. A writer, after its commit,
deletes the value and the lease (`forget`), so a reader that loaded the old row before the
commit cannot store it after: its lease is gone. Readers that miss while another holds the
lease wait for its fill a few milliseconds, so a stampede on one key reaches the database
once; past the wait they read the database themselves, without filling.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis

from core import jsons
from core.metrics import CACHE
from core.scripts import Script

LEASE_MS = 2_000
WAITS = (0.002, 0.004, 0.008, 0.016, 0.032)
# KEYS: values; ARGV: lease token, ttl, then one encoded value per key
_FILL = Script("""
local filled = 0
for i, key in ipairs(KEYS) do
  local lease = key .. ':lease'
  if redis.call('GET', lease) == ARGV[1] then
    redis.call('SET', key, ARGV[i + 2], 'EX', ARGV[2])
    redis.call('DEL', lease)
    filled = filled + 1
  end
end
return filled
""")

Load = Callable[[list[Any]], Awaitable[list[Any]]]

# kinds: rows by id, and flags of one viewer by tweet or user id
TWEET, USER = "t", "u"
LIKED, RETWEETED, FOLLOWING, FOLLOWED_BY = "l", "r", "f", "b"
FOLLOWED_MERGED = "m"  # by viewer, scoped by the size of the hybrid set (services/home.py)
TOKEN_GENERATION = "g"  # by user (services/tokens.py)
_NAMES = {
    TWEET: "tweet",
    USER: "user",
    LIKED: "liked",
    RETWEETED: "retweeted",
    FOLLOWING: "following",
    FOLLOWED_BY: "followed_by",
    FOLLOWED_MERGED: "followed_merged",
    TOKEN_GENERATION: "token_generation",
}


def key(kind: str, item: object) -> str:
    return f"c:{kind}:{item}"


def scoped(kind: str, scope: object) -> str:
    """A kind narrowed to one scope, e.g. one viewer's flags: `key(scoped(LIKED, viewer), id)`."""
    return f"{kind}:{scope}"


async def read_through(
    redis: aioredis.Redis, kind: str, items: Sequence[Any], load: Load, *, ttl: int
) -> list[Any]:
    """The values of `items`, in order: from Redis, else from `load` (JSON-able values, in the
    order of the items it is given), stored for the next reader."""
    keys = [key(kind, item) for item in items]
    found: dict[str, Any] = {}
    missing = _decode_into(found, keys, await redis.mget(keys))
    base = kind.split(":", 1)[0]  # not the scope: one series per kind
    label = _NAMES.get(base, base)
    CACHE.labels(label, "hit").inc(len(keys) - len(missing))
    CACHE.labels(label, "miss").inc(len(missing))
    if missing:
        token = secrets.token_hex(8)
        async with redis.pipeline(transaction=False) as pipe:
            for name in missing:
                pipe.set(f"{name}:lease", token, nx=True, px=LEASE_MS)
            granted = await pipe.execute()
        by_key = dict(zip(keys, items, strict=True))
        mine = [name for name, got in zip(missing, granted, strict=True) if got]
        others = [name for name, got in zip(missing, granted, strict=True) if not got]
        if mine:
            values = await load([by_key[name] for name in mine])
            found.update(zip(mine, values, strict=True))
            encoded = [jsons.dumps(value) for value in values]
            await _FILL(redis, mine, [token, ttl, *encoded])
        for delay in WAITS if others else ():
            await asyncio.sleep(delay)
            others = _decode_into(found, others, await redis.mget(others))
            if not others:
                break
        if others:
            found.update(zip(others, await load([by_key[name] for name in others]), strict=True))
    return [found[name] for name in keys]


async def forget(redis: aioredis.Redis, keys: Iterable[str]) -> None:
    """Drops values and their leases: called after the commit that changed them."""
    names = [part for name in set(keys) for part in (name, f"{name}:lease")]
    if names:
        await redis.delete(*names)


def _decode_into(found: dict[str, Any], keys: Sequence[str], values: Sequence[Any]) -> list[str]:
    """Decodes the values present into `found`; returns the keys that had none."""
    missing = []
    for name, value in zip(keys, values, strict=True):
        if value is None:
            missing.append(name)
        else:
            found[name] = jsons.loads_own(value)
    return missing
