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

The API's client (`batched`) sends the commands its callers issue in one turn of the event
loop as one pipeline, as ioredis's auto-pipelining does (redis-py has none): a command costs
its caller ~70 us of CPU alone and ~20 us in a pipeline, and a burst of requests asks Redis for
their rate limits, tokens and pages at once. Blocking commands, and those that change the
connection, go alone.

A Redis Cluster (REDIS_CLUSTER_NODES) is named by a URL of CLUSTER_SCHEME listing its nodes,
which `connect` turns into redis-py's RedisCluster: it follows the slots as they move and a
replica promoted in a failover, retrying a command for up to a few seconds meanwhile. It answers
the commands a Redis does (redis-py's cluster mixins), and is typed as one: what differs (keys
of several slots in one command) goes through `groups` (core/scripts.py's SpreadScript).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, ClassVar, cast

import redis
import redis.asyncio as aioredis
from redis import retry as sync_retry
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
    HELLO CLIENT MONITOR SUBSCRIBE PSUBSCRIBE SSUBSCRIBE RESET QUIT SHUTDOWN""".split()
)
_Call = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]
_sending: set[asyncio.Task[None]] = set()  # batches on their way, kept alive until answered
_BY_ITSELF = object()  # what a command alone in its turn is told: send yourself


def _alone(args: tuple[Any, ...]) -> bool:
    name = str(args[0]).upper()
    if name in ("XREAD", "XREADGROUP"):
        return any(str(arg).upper() == "BLOCK" for arg in args[1:])
    return name in _ALONE


class _Batched(aioredis.Redis):
    """Commands issued in one turn of the event loop go to Redis as one pipeline, sent by a
    task of its own; each caller waits on a future of its own, so that a caller cancelled
    leaves the others their answers. A command alone in its turn is sent by its caller."""

    _queued: list[_Call]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if not _alone(args):
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            queued = self.__dict__.setdefault("_queued", [])
            if not queued:
                loop.call_soon(self._dispatch)
            queued.append((args, options, future))
            answer = await future
            if answer is not _BY_ITSELF:
                return answer
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def _dispatch(self) -> None:
        calls = [call for call in self._queued if not call[2].done()]  # not the cancelled
        self._queued = []
        if not calls:
            return
        if len(calls) == 1:
            calls[0][2].set_result(_BY_ITSELF)
            return
        task = asyncio.ensure_future(self._send(calls))
        _sending.add(task)
        task.add_done_callback(_sending.discard)

    async def _send(self, calls: list[_Call]) -> None:
        try:
            async with self.pipeline(transaction=False) as pipe:
                for args, options, _ in calls:
                    pipe.execute_command(*args, **options)
                answers = await pipe.execute(raise_on_error=False)
        except Exception as error:  # the connection's: every caller of the batch meets it
            answers = [error] * len(calls)
        except BaseException:
            for *_, future in calls:
                future.cancel()
            raise
        for (*_, future), answer in zip(calls, answers, strict=True):
            if future.done():
                continue  # its caller is gone
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)


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
    `batched` (not on a cluster), the commands of one turn of the event loop go as one
    pipeline."""
    if url.startswith(CLUSTER_SCHEME):
        return _cluster(url, timeout=timeout, decode_responses=decode_responses)
    options = _options(timeout) | {
        "decode_responses": decode_responses,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "connection_class": type("Connection", (_Connection,), {"quiet": _Quiet()}),
    }
    kind = _Batched if batched else aioredis.Redis
    if max_connections is None:
        return kind.from_url(url, **options)
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=_POOL_WAIT_SECONDS, **options
    )
    return kind.from_pool(pool)  # closes the pool with it


def cluster_url(nodes: Sequence[str]) -> str:
    """The URL `connect` reads as a Redis Cluster of these `host:port` nodes."""
    return CLUSTER_SCHEME + ",".join(nodes)


def is_cluster(redis: aioredis.Redis) -> bool:
    return isinstance(redis, RedisCluster)


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
    if not isinstance(redis, RedisCluster):
        return [(None, list(keys))] if keys else []
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
