"""The request's DataLoader (dataloaders/batch.py): one read a turn, each key once, and a
waiter that is cancelled cancels nobody else."""

from __future__ import annotations

import asyncio

import pytest

from dataloaders.batch import Loader, WrongNumberOfValues


class Reads:
    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, keys: list[int]) -> list[object]:
        self.batches.append(keys)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [ValueError(f"no {key}") if key < 0 else key * 10 for key in keys]


async def test_the_keys_of_one_turn_are_read_once_in_one_call() -> None:
    reads = Reads()
    loader: Loader[int, int] = Loader(reads)
    found = await asyncio.gather(
        loader.load(1), loader.load(2), loader.load(1), loader.load_many([3, 2, 3])
    )
    assert found == [10, 20, 10, [30, 20, 30]]
    assert reads.batches == [[1, 2, 3]]
    assert await loader.load_many([1, 2, 3]) == [10, 20, 30]  # known: no read
    assert await loader.load(4) == 40
    assert reads.batches == [[1, 2, 3], [4]]


async def test_a_cancelled_waiter_cancels_nobody_else() -> None:
    reads = Reads()
    reads.release.clear()
    loader: Loader[int, int] = Loader(reads)
    gone, kept, many = loader.load(1), loader.load(1), loader.load_many([1, 2])
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the batch is being read
    gone.cancel()
    reads.release.set()
    assert await kept == 10 and await many == [10, 20]
    assert gone.cancelled() and reads.batches == [[1, 2]]


async def test_an_error_reaches_its_waiters_and_is_kept() -> None:
    loader: Loader[int, int] = Loader(Reads())
    assert await loader.load(2) == 20
    with pytest.raises(ValueError, match="no -1"):
        await loader.load(-1)  # a value that is an exception: that key's waiters only
    with pytest.raises(ValueError, match="no -1"):
        await loader.load_many([2, -1])
    failing = Reads(fail=RuntimeError("down"))
    broken: Loader[int, int] = Loader(failing)
    results = await asyncio.gather(broken.load(1), broken.load_many([2]), return_exceptions=True)
    assert [str(r) for r in results] == ["down", "down"] and failing.batches == [[1, 2]]


async def test_a_read_giving_another_count_of_values_fails_its_waiters() -> None:
    async def short(keys: list[int]) -> list[int]:
        return keys[:-1]

    loader: Loader[int, int] = Loader(short)
    with pytest.raises(WrongNumberOfValues):
        await asyncio.gather(loader.load(1), loader.load(2))


async def test_a_primed_value_is_not_read() -> None:
    reads = Reads()
    loader: Loader[int, int] = Loader(reads)
    loader.prime(1, 11)
    assert await loader.load(1) == 11 and reads.batches == []
    queued = loader.load_many([2, 3])
    loader.prime(3, 33)  # asked in this turn, not yet read
    assert await queued == [20, 33] and reads.batches == [[2]]
    loader.prime(2, 22)
    assert await loader.load(2) == 20  # known already: kept
    loader.prime(2, 22, force=True)
    assert await loader.load(2) == 22


async def test_a_cancelled_read_fails_its_waiters_and_is_read_again() -> None:
    reads = Reads()
    reads.release.clear()
    loader: Loader[int, int] = Loader(reads)
    waiting = loader.load(1)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    [batch] = [t for t in asyncio.all_tasks() if "Loader._batch" in repr(t)]
    batch.cancel()
    with pytest.raises(Exception, match="cancelled"):
        await waiting
    reads.release.set()
    assert await loader.load(1) == 10 and reads.batches == [[1], [1]]
