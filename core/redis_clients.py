"""Redis clients whose every call is bounded in time.

redis-py 8 waits up to 5 s per attempt and retries a timeout 10 times, so one command to a
paused Redis waited for the whole pause. Here a call makes one attempt within `timeout`, and
only a dropped connection (a restarted server) is tried once more, on a new one. A timeout is a
RedisError (redis.exceptions.TimeoutError), so callers degrade as they do for a Redis that is
down. Request paths use REDIS_TIMEOUT_SECONDS; blocking reads add their block to it.

A request makes several Redis calls (the rate limit, the token's generation, the timeline, the
cached rows), each of which would wait out the timeout of a hung Redis: so once one call of a
client has timed out, the client's calls fail at once for QUIET_SECONDS, after which one of them
tries again.

The API's client (`batched`) sends its commands, and its pipelines without a transaction, over
one connection of its own (core/redis_wire.py), as ioredis does: those its callers issue in one
turn of the event loop go as one write, and a burst of requests asks Redis for their rate
limits, tokens and pages at once, without redis-py's per-command machinery (~70 us of CPU a
command alone, ~20 us in a pipeline). Blocking commands, those that change the connection, and
transactions take a connection of the pool, as any client's do.

A Redis Cluster (REDIS_CLUSTER_NODES) is named by a URL of CLUSTER_SCHEME listing its nodes,
which `connect` turns into redis-py's RedisCluster: it follows the slots as they move and a
replica promoted in a failover, retrying a command for up to a few seconds meanwhile. It answers
the commands a Redis does (redis-py's cluster mixins), and is typed as one: what differs (keys
of several slots in one command) goes through `groups` (core/scripts.py's SpreadScript).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

import redis
import redis.asyncio as aioredis
from redis import retry as sync_retry
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.redis_wire import Wire

# workers, the broker and tools: bigger batches (a fan-out script call covers 1,000
# timelines), and nobody waiting on the other side
BACKGROUND_TIMEOUT_SECONDS = 10.0
_POOL_WAIT_SECONDS = 10  # a burst waits this long for a free connection rather than failing
QUIET_SECONDS = 5.0
CLUSTER_SCHEME = "redis+cluster://"
# a failover (node timeout, election) takes a few seconds: a cluster command is tried again
# over about that long, its topology read again between tries
_CLUSTER_RETRY = Retry(ExponentialBackoff(cap=1.0, base=0.05), 8)
_CLUSTER_CONNECTIONS = 1000  # a node's; past it a call fails (no waiting pool in cluster mode)


class _Quiet:
    """Until when a client's Redis is not asked, after failing to answer in time."""

    def __init__(self) -> None:
        self.until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.until:
            raise RedisTimeoutError("Redis did not answer in time just now; not asked again yet")

    def start(self) -> None:
        self.until = time.monotonic() + QUIET_SECONDS


class _Connection(aioredis.Connection):
    """A connection that keeps quiet, with every other of its client's, after a timeout."""

    quiet: ClassVar[_Quiet]  # one a client: each client has a subclass of its own

    async def connect(self) -> None:
        self.quiet.check()
        try:
            await super().connect()  # type: ignore[no-untyped-call]
        except RedisTimeoutError:
            self.quiet.start()
            raise

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self.quiet.check()
        try:
            await super().send_packed_command(command, check_health)
        except RedisTimeoutError:
            self.quiet.start()
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except RedisTimeoutError:
            self.quiet.start()
            raise


# sent alone: they block the connection, or change its state for the commands after them
_ALONE = frozenset(
    """BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP BZPOPMIN BZPOPMAX BZMPOP WAIT WAITAOF SELECT AUTH
    HELLO CLIENT MONITOR SUBSCRIBE PSUBSCRIBE SSUBSCRIBE RESET QUIT SHUTDOWN MULTI EXEC
    WATCH UNWATCH DISCARD""".split()
)


def _alone(args: tuple[Any, ...], options: Mapping[str, Any]) -> bool:
    name = str(args[0]).upper()
    if name in ("XREAD", "XREADGROUP"):
        return any(str(arg).upper() == "BLOCK" for arg in args[1:])
    return name in _ALONE or NEVER_DECODE in options


_NOT_FOR_CALLBACKS = (EMPTY_RESPONSE, "keys")


def _parsed(callbacks: Any, args: tuple[Any, ...], reply: Any, options: Mapping[str, Any]) -> Any:
    """A reply as redis-py's parse_response gives it (its command's callback applied; an
    error reply as its exception)."""
    if isinstance(reply, RedisError):
        if EMPTY_RESPONSE in options and isinstance(reply, ResponseError):
            return options[EMPTY_RESPONSE]
        return reply
    callback = callbacks.get(args[0])
    if callback is None:
        return reply
    return callback(reply, **{k: v for k, v in options.items() if k not in _NOT_FOR_CALLBACKS})


class _Batched(aioredis.Redis):
    """Commands over one connection of its own (core/redis_wire.py): those issued in one turn
    of the event loop go as one write. Blocking commands, those that change the connection,
    and transactions take a connection of the pool, as with any client."""

    wire: Wire

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _alone(args, options):
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        reply = await self.wire.call(args)
        answer = _parsed(self.response_callbacks, args, reply, options)
        if isinstance(answer, RedisError):
            raise answer
        return answer

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = _WirePipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.wire = self.wire
        return pipe

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        self.wire.close()
        await super().aclose(close_connection_pool)


class _WirePipeline(Pipeline):
    """A pipeline without a transaction goes over the wire, its commands in one write."""

    wire: Wire

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = self.command_stack
        if (
            self.is_transaction
            or self.explicit_transaction
            or self.watching
            or self.scripts
            or any(_alone(args, options) for args, options in stack)
        ):
            return await super().execute(raise_on_error)
        await self.reset()  # type: ignore[no-untyped-call]
        if not stack:
            return []
        replies = await self.wire.call_many([args for args, _ in stack])
        answers = [
            _parsed(self.response_callbacks, args, reply, options)
            for (args, options), reply in zip(stack, replies, strict=True)
        ]
        if raise_on_error:
            self.raise_first_error(stack, answers)
        return answers


def _options(timeout: float) -> dict[str, Any]:
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def connect(
    url: str,
    *,
    timeout: float,
    max_connections: int | None = None,
    decode_responses: bool = False,
    batched: bool = False,
) -> aioredis.Redis:
    """An asyncio client; with `max_connections`, callers beyond it wait for a free one; with
    `batched` (not on a cluster), the commands of one turn of the event loop go as one write
    on a shared connection."""
    if url.startswith(CLUSTER_SCHEME):
        return _cluster(url, timeout=timeout, decode_responses=decode_responses)
    options = _options(timeout) | {
        "decode_responses": decode_responses,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    }
    quiet = _Quiet()
    options["connection_class"] = type("Connection", (_Connection,), {"quiet": quiet})
    if max_connections is None:
        pool = aioredis.ConnectionPool.from_url(url, **options)
    else:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=_POOL_WAIT_SECONDS, **options
        )
    if not batched:
        return aioredis.Redis.from_pool(pool)  # closes the pool with it
    client = cast(_Batched, _Batched.from_pool(pool))
    client.wire = Wire(pool, timeout, quiet)
    return client


def cluster_url(nodes: Sequence[str]) -> str:
    """The URL `connect` reads as a Redis Cluster of these `host:port` nodes."""
    return CLUSTER_SCHEME + ",".join(nodes)


_CLUSTER_KINDS: dict[type, bool] = {}  # isinstance of RedisCluster, a Protocol's, costs ~5 us


def is_cluster(redis: aioredis.Redis) -> bool:
    kind = type(redis)
    found = _CLUSTER_KINDS.get(kind)
    if found is None:
        found = _CLUSTER_KINDS[kind] = issubclass(kind, RedisCluster)
    return found


class _Cluster(RedisCluster):
    """Knows the slots before its first command. redis-py 8.1 resolves a command's routing
    before it initializes: the first commands of a new client went to any node, and the
    redirections of a concurrent burst closed connections other commands were using."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)

    async def aclose(self) -> None:
        # redis-py closes the nodes only when the slots are known: a client closed after a
        # failure asked it to read them again (a failover) left its connections open
        self._initialize = False
        await super().aclose()


def _cluster(url: str, *, timeout: float, decode_responses: bool) -> aioredis.Redis:
    nodes = []
    for node in url.removeprefix(CLUSTER_SCHEME).split(","):
        host, _, port = node.strip().rpartition(":")
        nodes.append(ClusterNode(host or "127.0.0.1", int(port)))
    client = _Cluster(
        startup_nodes=nodes,
        retry=_CLUSTER_RETRY,
        max_connections=_CLUSTER_CONNECTIONS,
        decode_responses=decode_responses,
        **_options(timeout),
    )
    return cast(aioredis.Redis, client)


async def groups(redis: aioredis.Redis, keys: Sequence[str]) -> list[tuple[Any, list[str]]]:
    """The keys by the node that holds them, each with the `target_nodes` of a command sent
    there; one group, with no target, on a single Redis."""
    if not is_cluster(redis):
        return [(None, list(keys))] if keys else []
    assert isinstance(redis, RedisCluster)  # (for the type: is_cluster said so)
    await redis.initialize()  # the slots' owners (once: a no-op after)
    by_node: dict[str, tuple[ClusterNode, list[str]]] = {}
    for name in keys:
        node = redis.get_node_from_key(name)
        by_node.setdefault(node.name, (node, []))[1].append(name)
    return list(by_node.values())


def connect_sync(url: str, *, timeout: float) -> redis.Redis:
    """A blocking client (Dramatiq's Redis broker)."""
    retry = sync_retry.Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return redis.Redis.from_url(url, retry=retry, **_options(timeout))
