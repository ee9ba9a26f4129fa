"""Snowflake ids, global ids and cursors."""

from __future__ import annotations

import pytest

from core import cursors, ids
from core.errors import BadUserInput


def test_snowflakes_are_monotonic_and_carry_their_time() -> None:
    generator = ids.SnowflakeGenerator(7)
    minted = [generator.next_id() for _ in range(10_000)]
    assert minted == sorted(minted) and len(set(minted)) == len(minted)
    assert all((m >> 12) & 0x3FF == 7 for m in minted)
    assert ids.snowflake_time(minted[0]).year >= 2024


def test_snowflakes_stay_monotonic_when_the_clock_steps_back() -> None:
    now = [ids.EPOCH_MS + 1_000_000]
    generator = ids.SnowflakeGenerator(1, clock=lambda: now[0])
    before = [generator.next_id() for _ in range(5000)]  # overflows the 12-bit sequence
    now[0] -= 60_000
    after = [generator.next_id() for _ in range(10)]
    minted = before + after
    assert minted == sorted(minted) and len(set(minted)) == len(minted)


def test_worker_ids_are_bounded() -> None:
    with pytest.raises(ValueError):
        ids.SnowflakeGenerator(1024)


def test_no_id_is_minted_past_the_lease_of_its_worker_id() -> None:
    """A process that could not renew its lease in time stops minting rather than share an id
    with the lease's next holder; it mints again with the next id it holds."""
    now = [100.0]
    generator = ids.SnowflakeGenerator(monotonic=lambda: now[0])
    with pytest.raises(ids.WorkerIdLapsed):
        generator.next_id()  # none held yet
    generator.hold("a lease", 5, until=110.0)
    assert (generator.next_id() >> 12) & 0x3FF == 5
    now[0] = 110.0
    with pytest.raises(ids.WorkerIdLapsed):
        generator.next_id()
    generator.hold("another", 6, until=200.0)
    assert (generator.next_id() >> 12) & 0x3FF == 6


def test_snowflakes_stay_monotonic_across_worker_ids_and_above_the_last_holders() -> None:
    clock = [ids.EPOCH_MS + 1_000_000]
    generator = ids.SnowflakeGenerator(9, clock=lambda: clock[0])
    before = [generator.next_id() for _ in range(3)]
    clock[0] -= 60_000  # the clock steps back, and the lease is lost to another: id 2 now
    generator.hold("a lease", 2)
    generator.drop("")
    after = [generator.next_id() for _ in range(3)]
    assert before + after == sorted(before + after)
    assert [(m >> 12) & 0x3FF for m in after] == [2, 2, 2]
    floor = clock[0] + 120_000  # the newest millisecond the previous holder of 3 may have used
    generator.hold("another", 3, floor_ms=floor)
    assert ids.snowflake_time(generator.next_id()).timestamp() * 1000 > floor


def test_global_ids_round_trip_and_reject_junk() -> None:
    assert ids.parse_global_id(ids.to_global_id("Tweet", 42)) == ("Tweet", 42)
    assert ids.expect_global_id(ids.to_global_id("User", 9), "User") == 9
    with pytest.raises(BadUserInput):
        ids.expect_global_id(ids.to_global_id("User", 9), "Tweet")
    for junk in ["", "x", "VHdlZXQ6", "VHdlZXQ6YWJj", "VHdlZXQ6LTE", "VHdlZXQ6MDA3", "💥"]:
        with pytest.raises(BadUserInput):
            ids.parse_global_id(junk)


def test_cursors_round_trip_and_detect_tampering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cursors, "_key", cursors._key)  # the apps' key again afterwards
    cursors.configure("a secret")
    cursor = cursors.encode("tweet", 123456789)
    assert cursors.decode(cursor, "tweet") == (123456789,)
    with pytest.raises(BadUserInput):
        cursors.decode(cursor, "follow")
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    for bad in [flipped, cursor[:-1], "", "!!", cursor + "AAAA"]:
        with pytest.raises(BadUserInput):
            cursors.decode(bad, "tweet")
    assert cursors.encode("tweet", 123456789) is cursor  # kept
    cursors.configure("another secret")
    with pytest.raises(BadUserInput):
        cursors.decode(cursor, "tweet")
    signed_again = cursors.encode("tweet", 123456789)  # with the new key, not the kept one's
    assert signed_again != cursor and cursors.decode(signed_again, "tweet") == (123456789,)
