"""Lua scripts sent by hash (EVALSHA), and in full only when the server does not know them.

A `Script` takes its keys as KEYS, all of one hash slot on a Redis Cluster. A `SpreadScript`
acts on each of many keys alike (a fan-out's timelines, a page's cached rows): it is sent one
call per node of a cluster with the keys that node holds, declared to Redis as none (a cluster
refuses declared keys of several slots) and read from ARGV into KEYS by the prologue, so its
body is written as any script's. A cluster's node runs it over keys of any of its slots.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from core import redis_clients

log = logging.getLogger("chirp.scripts")
REPLICATED_WAIT_MS = 100
# ARGV: the count of keys, the keys, then the script's own arguments
_PROLOGUE = """local _n = tonumber(ARGV[1])
local KEYS, ARGV = {unpack(ARGV, 2, _n + 1)}, {unpack(ARGV, _n + 2)}
"""


class Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, redis: aioredis.Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)

    async def many(
        self, redis: aioredis.Redis, calls: list[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        """Runs the script once per (keys, args), pipelined: one round trip for all. Every
        script run this way must be idempotent: when the server did not know it, all run again."""
        for attempt in range(2):
            async with redis.pipeline(transaction=False) as pipe:
                for keys, args in calls:  # (a cluster's pipeline refuses its `evalsha`)
                    pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt:
                        raise
                    await redis.script_load(self.source)
        raise AssertionError("unreachable")


class SpreadScript(Script):
    """A script over keys of any slots, run with `over` (its KEYS come in ARGV)."""

    def __init__(self, source: str) -> None:
        super().__init__(_PROLOGUE + source)

    async def over(
        self,
        redis: aioredis.Redis,
        keys: list[str],
        args: list[Any],
        *,
        batch: int,
        each: dict[str, Any] | None = None,
        replicated: bool = False,
    ) -> list[tuple[list[str], Any]]:
        """Runs the script over `keys`, `batch` at most a call, each call on the node holding
        its keys; every call's keys with its reply. With `each`, a call's ARGV ends with the
        value of each of its keys, in order. With `replicated`, on a cluster, each node's
        calls are followed by a WAIT for one replica (REPLICATED_WAIT_MS at most): a master
        that dies after does not take the writes with it. Idempotent scripts only (a call is
        sent again when the server did not know the script)."""
        calls = [
            (target, chunk[start : start + batch])
            for target, chunk in await redis_clients.groups(redis, keys)
            for start in range(0, len(chunk), batch)
        ]

        def argv(chunk: list[str]) -> list[Any]:
            own = [each[name] for name in chunk] if each is not None else []
            return [len(chunk), *chunk, *args, *own]

        if not calls:
            return []
        argvs = [argv(chunk) for _, chunk in calls]
        if calls[0][0] is None:  # a single Redis: every call in one round trip
            replies = await self.many(redis, [([], argv) for argv in argvs])
        else:
            targets = [target for target, _ in calls]
            replies = await self._on_nodes(redis, targets, argvs, replicated)
        return [(chunk, reply) for (_, chunk), reply in zip(calls, replies, strict=True)]

    async def _on_nodes(
        self, redis: aioredis.Redis, targets: list[Any], argvs: list[list[Any]], replicated: bool
    ) -> list[Any]:
        """One pipeline: each node's calls (and WAIT) on one connection, the nodes at once. A
        node that did not know the script is sent it, then only its calls again: the others
        ran (a lease taken twice would be refused to its own taker)."""
        replies: list[Any] = [None] * len(argvs)
        todo = list(range(len(argvs)))
        for attempt in range(2):
            nodes = list(dict.fromkeys(targets[i] for i in todo))
            async with redis.pipeline(transaction=False) as pipe:
                for i in todo:
                    pipe.execute_command("EVALSHA", self.sha, 0, *argvs[i], target_nodes=targets[i])
                for node in nodes if replicated else ():
                    pipe.execute_command("WAIT", 1, REPLICATED_WAIT_MS, target_nodes=node)
                answers = await pipe.execute(raise_on_error=False)
            unknown = []
            for i, answer in zip(todo, answers, strict=False):
                if isinstance(answer, NoScriptError) and not attempt:
                    unknown.append(i)
                elif isinstance(answer, Exception):
                    raise answer
                else:
                    replies[i] = answer
            if any(
                int(count) == 0
                for count in answers[len(todo) :]
                if not isinstance(count, Exception)
            ):
                log.warning("Redis Cluster: a master's writes are on no replica yet (WAIT)")
            if not unknown:
                return replies
            for node in dict.fromkeys(targets[i] for i in unknown):
                load = ("SCRIPT LOAD", self.source)  # (redis-py's script_load takes no target)
                await redis.execute_command(*load, target_nodes=node)  # type: ignore[no-untyped-call]
            todo = unknown
        raise AssertionError("unreachable")
