"""Background loops survive an unexpected exception: logged, counted, restarted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from core import tasks
from services import live


def restarts(loop: str) -> float:
    return REGISTRY.get_sample_value("background_loop_restarts_total", {"loop": loop}) or 0.0


async def test_a_failing_loop_is_logged_counted_restarted_and_stops_when_cancelled(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tasks, "RESTART_PAUSE", 0.01)
    runs: list[int] = []
    going = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise ValueError(f"injected {len(runs)}")
        going.set()
        await asyncio.Event().wait()  # runs until cancelled

    before = restarts("test-loop")
    running = tasks.keep_running("test-loop", loop)
    await asyncio.wait_for(going.wait(), 10)
    await tasks.stop([running])
    assert running.cancelled() and runs == [0, 1, 2]
    assert restarts("test-loop") == before + 2
    failures = [r for r in caplog.records if r.name == "chirp.tasks"]
    assert len(failures) == 2 and all(r.exc_info for r in failures)


async def test_the_live_hub_goes_on_after_an_unexpected_exception(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, only a RedisError left the hub running: anything else ended live delivery for
    every subscriber of the process until it restarted."""
    hub = app.state.hub
    read = hub._redis.xread
    failed: list[bool] = []

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(True)
            raise RuntimeError("injected")
        return await read(*args, **kwargs)

    before = restarts("live")
    monkeypatch.setattr(hub._redis, "xread", failing_once)
    deadline = asyncio.get_running_loop().time() + 10
    while restarts("live") == before:  # the read under way ends within its block (2 s)
        assert asyncio.get_running_loop().time() < deadline, "the injected failure never came"
        await asyncio.sleep(0.05)
    tweet = 10**15 + 42  # a notice that names what it concerns: no row needed
    with hub.subscribe(live.TWEET_UPDATED, tweet, lambda: None) as subscriber:
        await live.publish(app.state.redis, [{"topic": live.TWEET_UPDATED, "tweet": tweet}])
        assert await asyncio.wait_for(subscriber.get(), 10) == (0, tweet, None)
    assert restarts("live") == before + 1
