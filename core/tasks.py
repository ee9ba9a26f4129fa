"""Background loops: supervised, and ended when cancelled, even when a cancellation was swallowed.

On Python 3.11, `asyncio.wait_for` (which redis-py 8 wraps around every command, for its socket
timeout) can lose a cancellation that arrives as the command completes: the call returns, and a
`while True` loop would go on for ever. Loops check `stopping()` each turn.

A loop started with `keep_running` is supervised: an unexpected exception is logged with its
traceback, counted in `background_loop_restarts_total{loop=...}`, and the loop runs again after
a pause that grows while it keeps failing soon after each start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from core.metrics import LOOP_RESTARTS

log = logging.getLogger("chirp.tasks")
STOP_SECONDS = 5.0
RESTART_PAUSE, RESTART_PAUSE_MAX = 0.5, 30.0
_STEADY_SECONDS = 60.0  # a loop that ran this long before failing is restarted as if the first time


class Backoff:
    """Pauses that double from `first` up to `most`, and start from `first` again after reset()."""

    def __init__(self, first: float, most: float) -> None:
        self.first = first
        self.most = most
        self._pause = 0.0

    def next(self) -> float:
        self._pause = min(self.most, self._pause * 2 or self.first)
        return self._pause

    def reset(self) -> None:
        self._pause = 0.0


def stopping() -> bool:
    """Whether this task was asked to stop, whether or not the CancelledError reached it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def supervise(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Runs `loop` until it returns or this task is cancelled, again after each failure."""
    pauses = Backoff(RESTART_PAUSE, RESTART_PAUSE_MAX)
    while not stopping():
        started = time.monotonic()
        try:
            await loop()
            return
        except Exception:
            if time.monotonic() - started > _STEADY_SECONDS:
                pauses.reset()
            pause = pauses.next()
            LOOP_RESTARTS.labels(name).inc()
            log.exception("background loop %s failed; restarting it in %.1f s", name, pause)
            await asyncio.sleep(pause)


def keep_running(name: str, loop: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Runs `loop` supervised, in a task of its own (named `name`, as in the metrics)."""
    return asyncio.create_task(supervise(name, loop), name=name)


async def stop(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancels the tasks and waits for them, a bounded time."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=STOP_SECONDS)


_spawned: set[asyncio.Task[Any]] = set()  # held until done: the loop keeps weak references


def spawn(work: Coroutine[Any, Any, Any]) -> None:
    """Runs `work` in the background, not awaited by whoever asked for it; its failure is
    logged."""
    task = asyncio.create_task(work)
    _spawned.add(task)
    task.add_done_callback(_finished)


def _finished(task: asyncio.Task[Any]) -> None:
    _spawned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", exc_info=task.exception())
