"""A read-through cache in Redis that stays exact while writers change what it holds.

Values are JSON under `c:{kind}:{id}` with a TTL (the embedded Redis evicts them by LFU first:
`volatile-lfu`). A miss takes a lease (`...:lease`, a random token) before loading from the
database (the lease is taken only where the value is still missing, in one script: a reader that
missed just before another's fill reads that fill); the fill lands only while that lease is still
there. A writer, after its commit,
deletes the value and the lease (`forget`), so a reader that loaded the old row before the
commit cannot store it after: its lease is gone. Readers that miss while another holds the
lease wait for its fill a few milliseconds, so a stampede on one key reaches the database
once; past the wait they read the database themselves, without filling. The reads asked in one
turn of the event loop go to Redis as one MGET (a page's loaders read side by side).

With read replicas a fill read from a replica that has not yet replayed the writer's commit
would store the old row past `forget`. So `forget(..., recent_ms=...)` first marks the keys as
recently written (`...:w`, for as long as a usable replica may lag), and a reader that takes
the lease of a marked key fills it from `load_fresh` (the primary) instead.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis

from core import jsons, redis_clients
from core.metrics import CACHE, series
from core.scripts import SpreadScript

LEASE_MS = 2_000
_BATCH = 1000  # keys a script call
WAITS = (0.002, 0.004, 0.008, 0.016, 0.032)
# KEYS: values; ARGV: lease token, lease ms, "1" to tell marked keys. Per key: its value when
# there is one by now (a reader whose MGET came before another's fill must not load it again),
# else 1 when the lease is taken here (2: and the key was written recently), else 0 (another
# reader holds it)
_LEASE = SpreadScript("""
local replies = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    replies[i] = value
  elseif redis.call('SET', key .. ':lease', ARGV[1], 'NX', 'PX', ARGV[2]) then
    if ARGV[3] == '1' and redis.call('EXISTS', key .. ':w') == 1 then
      replies[i] = 2
    else
      replies[i] = 1
    end
  else
    replies[i] = 0
  end
end
return replies
""")
# KEYS: values; ARGV: lease token, ttl, then one encoded value per key
_FILL = SpreadScript("""
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

# KEYS: any; their values, in order (a cluster's MGET takes keys of one slot only: on a
# cluster, a page's rows are read by one call a node instead of an MGET a slot)
_GET_EACH = SpreadScript("""
local values = {}
for i, key in ipairs(KEYS) do values[i] = redis.call('GET', key) end
return values
""")

Load = Callable[[list[Any]], Awaitable[list[Any]]]

# kinds: rows by id, and flags of one viewer by tweet or user id (a digit: the rows gained
# columns, and rows cached by an older release are not read as the new ones)
TWEET, USER = "t2", "u3"
LIKED, RETWEETED, FOLLOWING, FOLLOWED_BY, BOOKMARKED = "l", "r", "f", "b", "k"
FOLLOWED_MERGED = "m"  # by viewer, scoped by the size of the hybrid set (services/home.py)
TOKEN_GENERATION = "g"  # by user (services/tokens.py)
SAFETY = "s"  # by viewer: blocks either way, mutes, muted words (views/safety.py)
TWEET_MEDIA = "tm"  # by tweet: its images, in order (services/media.py)
HANDLE = "h"  # a user's id, by lowered handle (handles never change: `known`, `keep`)
_NAMES = {
    TWEET: "tweet",
    USER: "user",
    LIKED: "liked",
    RETWEETED: "retweeted",
    FOLLOWING: "following",
    FOLLOWED_BY: "followed_by",
    BOOKMARKED: "bookmarked",
    FOLLOWED_MERGED: "followed_merged",
    TOKEN_GENERATION: "token_generation",
    SAFETY: "safety",
    TWEET_MEDIA: "tweet_media",
    HANDLE: "handle",
}


def key(kind: str, item: object) -> str:
    """A value's key: its hash tag is all of it, so that its lease (`:lease`) and its mark of a
    recent write (`:w`) are in its slot on a cluster."""
    return f"{{c:{kind}:{item}}}"


def scoped(kind: str, scope: object) -> str:
    """A kind narrowed to one scope, e.g. one viewer's flags: `key(scoped(LIKED, viewer), id)`."""
    return f"{kind}:{scope}"


class Decoded:
    """Values as `decode` makes them of their JSON, kept per process by that text: a row that
    every request reads from the cache is parsed once, not once a request (its JSON, its times
    and its named tuple were ~3% of a page). What `decode` returns must never be changed."""

    def __init__(self, decode: Callable[[Any], Any], *, size: int = 20_000) -> None:
        self.decode = decode
        self._size = size
        self._kept: dict[str, Any] = {}

    def __call__(self, text: str | bytes) -> Any:
        if isinstance(text, bytes):  # a fill's own JSON: kept as a reader's text is
            text = text.decode()
        found = self._kept.get(text, _NONE)
        if found is _NONE:
            if len(self._kept) >= self._size:
                self._kept.clear()  # whole: cheaper than an LRU's bookkeeping on every read
            found = self._kept[text] = self.decode(jsons.loads_own(text))
        return found


_NONE = object()


async def read_through(
    redis: aioredis.Redis,
    kind: str,
    items: Sequence[Any],
    load: Load,
    *,
    ttl: int,
    load_fresh: Load | None = None,
    decoded: Decoded | None = None,
) -> list[Any]:
    """The values of `items`, in order: from Redis, else from `load` (JSON-able values, in the
    order of the items it is given), stored for the next reader; those of keys written
    recently from `load_fresh`, when given. With `decoded`, each value as it makes it."""
    keys = [key(kind, item) for item in items]
    found: dict[str, Any] = {}
    decode = decoded or jsons.loads_own
    missing = _decode_into(found, keys, await _mget(redis, keys), decode)
    _count(kind, hits=len(keys) - len(missing), misses=len(missing))
    if missing:
        token = secrets.token_hex(8)
        args = [token, LEASE_MS, int(load_fresh is not None)]
        leased = await _LEASE.over(redis, missing, args, batch=_BATCH)
        replies = [reply for _, call in leased for reply in call]
        missing = [name for names, _ in leased for name in names]
        by_key = dict(zip(keys, items, strict=True))
        mine: list[str] = []
        fresh: list[str] = []
        others: list[str] = []
        for name, reply in zip(missing, replies, strict=True):
            if isinstance(reply, bytes | str):  # filled since the MGET
                found[name] = decode(reply)
            else:
                (others, mine, fresh)[int(reply)].append(name)
        for names, loader in ((mine, load), (fresh, load_fresh or load)):
            if names:
                values = await loader([by_key[name] for name in names])
                encoded = [jsons.dumps(value) for value in values]
                found.update(zip(names, _decoded(values, encoded, decoded), strict=True))
                each = dict(zip(names, encoded, strict=True))
                await _FILL.over(redis, names, [token, ttl], batch=_BATCH, each=each)
        for delay in WAITS if others else ():
            await asyncio.sleep(delay)
            others = _decode_into(found, others, await get_each(redis, others), decode)
            if not others:
                break
        if others:
            values = await load([by_key[name] for name in others])
            encoded = [jsons.dumps(value) for value in values] if decoded else []
            found.update(zip(others, _decoded(values, encoded, decoded), strict=True))
    return [found[name] for name in keys]


async def known(redis: aioredis.Redis, kind: str, items: Sequence[Any]) -> dict[Any, Any]:
    """The values held of those `items` that have one, for values that never change once
    there (`keep`): no lease, no forgetting. Callers check what they read against the
    database's rows (a cache that outlived its database holds values of another's)."""
    values = await _mget(redis, [key(kind, item) for item in items])
    found = {
        item: jsons.loads_own(value) for item, value in zip(items, values, strict=True) if value
    }
    _count(kind, hits=len(found), misses=len(items) - len(found))
    return found


def _count(kind: str, *, hits: int, misses: int) -> None:
    base = kind.split(":", 1)[0]  # not the scope: one series per kind
    label = _NAMES.get(base, base)
    series(CACHE, label, "hit").inc(hits)
    series(CACHE, label, "miss").inc(misses)


async def keep(redis: aioredis.Redis, kind: str, values: dict[Any, Any], *, ttl: int) -> None:
    """Stores values that never change once there, for `known`."""
    if not values:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for item, value in values.items():  # one command a key: on a cluster, one slot each
            pipe.set(key(kind, item), jsons.dumps(value), ex=ttl)
        await pipe.execute()


class _Reads:
    """The MGETs asked of one Redis client in one turn of the event loop, sent as one: the
    loaders of a page (its tweets' authors, the viewer's likes and retweets) read together."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.asked: list[tuple[list[str], asyncio.Future[list[Any]]]] = []

    def read(self, keys: list[str]) -> asyncio.Future[list[Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not self.asked:
            loop.call_soon(self._send)
        self.asked.append((keys, future))
        return future

    def _send(self) -> None:
        asked, self.asked = self.asked, []
        task = asyncio.ensure_future(self._mget(asked))
        _sending.add(task)
        task.add_done_callback(_sending.discard)

    async def _mget(self, asked: list[tuple[list[str], asyncio.Future[list[Any]]]]) -> None:
        every = [key for keys, _ in asked for key in keys]
        try:
            values = await get_each(self.redis, every) if every else []
        except BaseException as error:  # every reader meets it, as it would its own MGET
            for _, future in asked:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        start = 0
        for keys, future in asked:
            if not future.done():
                future.set_result(values[start : start + len(keys)])
            start += len(keys)


_reads: weakref.WeakKeyDictionary[aioredis.Redis, _Reads] = weakref.WeakKeyDictionary()
_sending: set[asyncio.Future[None]] = set()  # kept alive until done


async def get_each(redis: aioredis.Redis, keys: list[str]) -> list[Any]:
    """The values of keys of any slots, in order: one MGET on a single Redis."""
    if not redis_clients.is_cluster(redis):
        return list(await redis.mget(keys))
    found: dict[str, Any] = {}
    for names, values in await _GET_EACH.over(redis, keys, [], batch=_BATCH):
        found.update(zip(names, values, strict=True))
    return [found[name] for name in keys]


def _mget(redis: aioredis.Redis, keys: list[str]) -> Awaitable[list[Any]]:
    reads = _reads.get(redis)
    if reads is None:
        reads = _reads[redis] = _Reads(redis)
    return reads.read(keys)


async def forget(redis: aioredis.Redis, keys: Iterable[str], *, recent_ms: int = 0) -> None:
    """Drops values and their leases: called after the commit that changed them. With
    `recent_ms`, marks them written first (a reader between the two then sees the old value)."""
    unique = set(keys)
    names = [part for name in unique for part in (name, f"{name}:lease")]
    if not names:
        return
    if not recent_ms:
        await redis.delete(*names)
        return
    async with redis.pipeline(transaction=False) as pipe:
        for name in unique:
            pipe.set(f"{name}:w", 1, px=recent_ms)
        for name in names:  # one command a key: on a cluster, keys of one slot only
            pipe.delete(name)
        await pipe.execute()


def _decode_into(
    found: dict[str, Any],
    keys: Sequence[str],
    values: Sequence[Any],
    decode: Callable[[str | bytes], Any],
) -> list[str]:
    """Decodes the values present into `found`; returns the keys that had none."""
    missing = []
    for name, value in zip(keys, values, strict=True):
        if value is None:
            missing.append(name)
        else:
            found[name] = decode(value)
    return missing


def _decoded(values: list[Any], encoded: list[bytes], decoded: Decoded | None) -> list[Any]:
    """Values just loaded, as a reader of their JSON (`encoded`) gets them."""
    return values if decoded is None else [decoded(text) for text in encoded]
