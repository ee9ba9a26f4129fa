"""Background loops that end when cancelled, even when a cancellation was swallowed.

On Python 3.11, `asyncio.wait_for` (which redis-py 8 wraps around every command, for its
default 5 s socket timeout) can lose a cancellation that arrives as the command completes: the
call returns, and a `while True` loop would go on for ever. Loops check `stopping()` each turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

log = logging.getLogger("chirp.tasks")

STOP_SECONDS = 5.0


def stopping() -> bool:
    """Whether this task was asked to stop, whether or not the CancelledError reached it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


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
