"""Lua scripts sent by hash (EVALSHA), and in full only when the server does not know them."""

from __future__ import annotations

import hashlib
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


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
                for keys, args in calls:
                    pipe.evalsha(self.sha, len(keys), *keys, *args)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt:
                        raise
                    await redis.script_load(self.source)
        raise AssertionError("unreachable")
