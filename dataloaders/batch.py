"""A DataLoader: the keys asked in one turn of the event loop are read in one call, each once.

What a request asks of it: `load(key)` and `load_many(keys)` (one future for all of them: a
page reads 20 tweets with one), `prime(key, value)`. Every call gets a future of its own, and
the loader never awaits it: graphql-core cancels the fields beside one whose error nulls their
parent, and the cancelled wait of one field must not cancel the read others wait on (so no
shared future, and no `asyncio.shield` a call either). Outcomes, errors too, are kept for the
life of the loader (a request, or one event of a subscription).

Strawberry's DataLoader did the same with a future, a task entry and a shield per key, which
was ~8% of a timeline request's CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_running: set[asyncio.Task[None]] = set()  # the batches being read, kept alive until done


class _Cancelled(Exception):
    def __init__(self) -> None:
        super().__init__("the read of this key was cancelled")


class WrongNumberOfValues(Exception):
    def __init__(self, asked: int, given: int) -> None:
        super().__init__(f"a batch of {asked} keys was given {given} values")


class Loader(Generic[K, V]):
    __slots__ = ("_read", "_known", "_waiting", "_queued", "_loop")

    def __init__(self, read: Callable[[list[K]], Awaitable[list[Any]]]) -> None:
        self._read = read
        self._known: dict[K, tuple[bool, Any]] = {}  # key -> (a value, else an error; it)
        self._waiting: dict[K, list[Callable[[], None]]] = {}  # keys queued or being read
        self._queued: list[K] = []  # the next batch
        self._loop: asyncio.AbstractEventLoop | None = None

    def load(self, key: K) -> asyncio.Future[V]:
        future: asyncio.Future[V] = self._future()
        known = self._known.get(key)
        if known is not None:
            _settle(future, known)
        else:
            self._wait(key, lambda: _settle(future, self._known[key]))
        return future

    def load_many(self, keys: Iterable[K]) -> asyncio.Future[list[V]]:
        asked = list(keys)
        future: asyncio.Future[list[V]] = self._future()
        missing = {key for key in asked if key not in self._known}
        if not missing:
            self._settle_many(future, asked)
            return future
        left = [len(missing)]

        def one() -> None:
            left[0] -= 1
            if not left[0]:
                self._settle_many(future, asked)

        for key in missing:
            self._wait(key, one)
        return future

    def prime(self, key: K, value: V, force: bool = False) -> None:
        """Makes `value` the key's (with `force`, over one known already); a queued load of
        the key takes it instead of reading it."""
        if force or key not in self._known:
            self._known[key] = (True, value)
        if key in self._queued:
            self._queued.remove(key)
            for waiter in self._waiting.pop(key, ()):
                waiter()

    def _future(self) -> asyncio.Future[Any]:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop.create_future()

    def _wait(self, key: K, waiter: Callable[[], None]) -> None:
        waiters = self._waiting.get(key)
        if waiters is not None:
            waiters.append(waiter)
            return
        self._waiting[key] = [waiter]
        if not self._queued:
            assert self._loop is not None
            self._loop.call_soon(self._dispatch)
        self._queued.append(key)

    def _dispatch(self) -> None:
        keys, self._queued = self._queued, []
        if keys:
            task = asyncio.ensure_future(self._batch(keys))
            _running.add(task)
            task.add_done_callback(_running.discard)

    async def _batch(self, keys: list[K]) -> None:
        try:
            values = list(await self._read(keys))
            if len(values) != len(keys):
                raise WrongNumberOfValues(len(keys), len(values))
            outcomes = [(not isinstance(v, BaseException), v) for v in values]
        except Exception as error:  # every waiter of the batch meets it
            outcomes = [(False, error)] * len(keys)
        except BaseException:  # cancelled: its waiters fail, and a later load reads again
            self._resolve(keys, [(False, _Cancelled())] * len(keys), keep=False)
            raise
        self._resolve(keys, outcomes, keep=True)

    def _resolve(self, keys: list[K], outcomes: list[tuple[bool, Any]], *, keep: bool) -> None:
        for key, outcome in zip(keys, outcomes, strict=True):
            self._known.setdefault(key, outcome)  # a value primed meanwhile stands
            for waiter in self._waiting.pop(key, ()):
                waiter()
            if not keep:
                self._known.pop(key, None)

    def _settle_many(self, future: asyncio.Future[list[V]], keys: list[K]) -> None:
        if future.done():  # cancelled by its caller
            return
        values = []
        for key in keys:
            ok, value = self._known[key]
            if not ok:
                future.set_exception(value)
                return
            values.append(value)
        future.set_result(values)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # cancelled by its caller
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
