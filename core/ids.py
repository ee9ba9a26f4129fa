"""Snowflake ids and opaque Relay global ids."""

from __future__ import annotations

import base64
import binascii
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from core.errors import BadUserInput

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_WORKER_BITS = 10
_SEQUENCE_BITS = 12
_MAX_SEQUENCE = (1 << _SEQUENCE_BITS) - 1
MAX_WORKER_ID = (1 << _WORKER_BITS) - 1


class WorkerIdLapsed(RuntimeError):
    """No worker id to mint with: none held yet, or the lease of every one held has lapsed."""


class SnowflakeGenerator:
    """41-bit milliseconds, 10-bit worker, 12-bit sequence; monotonic within a process.

    When the clock steps back, ids keep counting from the last millisecond used instead of going
    backwards or waiting for the clock to catch up. A worker id is held, by a lease, until a
    deadline on the monotonic clock: past it, no id is minted with it, rather than risk one that
    the id's next holder mints too. Of the ids held and not lapsed, the one taken last is used;
    switching to another moves on to a new millisecond, so ids stay above every one minted
    before. (One lease per process, but tests run several apps in one.)
    """

    def __init__(
        self,
        worker_id: int | None = None,
        clock: Callable[[], int] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._monotonic = monotonic
        self._held: dict[str, tuple[int, float]] = {}  # lease -> worker id, until (monotonic)
        self._worker_id = -1
        self._last_ms = -1
        self._sequence = 0
        self._lock = threading.Lock()
        if worker_id is not None:
            self.hold("", worker_id)

    def hold(
        self, lease: str, worker_id: int, until: float = math.inf, *, floor_ms: int = 0
    ) -> None:
        """Mints with `worker_id`, held by `lease`, until the monotonic time `until`, above the
        Unix millisecond `floor_ms` (the last one the id's previous holder may have used)."""
        if not 0 <= worker_id <= MAX_WORKER_ID:
            raise ValueError(f"worker id must be 0..{MAX_WORKER_ID}")
        with self._lock:
            self._held[lease] = (worker_id, until)  # renewed, it keeps its place; new, it is last
            if floor_ms - EPOCH_MS > self._last_ms:
                self._last_ms, self._sequence = floor_ms - EPOCH_MS, _MAX_SEQUENCE

    def drop(self, lease: str) -> None:
        with self._lock:
            self._held.pop(lease, None)

    @property
    def last_ms(self) -> int:
        """The Unix millisecond of the newest id minted (or of the floor held), 0 before any."""
        return self._last_ms + EPOCH_MS if self._last_ms >= 0 else 0

    def next_id(self) -> int:
        with self._lock:
            worker_id = self._current()
            if worker_id != self._worker_id:
                self._worker_id, self._sequence = worker_id, _MAX_SEQUENCE
            now = self._clock() - EPOCH_MS
            if now > self._last_ms:
                self._last_ms, self._sequence = now, 0
            elif self._sequence < _MAX_SEQUENCE:
                self._sequence += 1
            else:
                self._last_ms, self._sequence = self._last_ms + 1, 0
            return (
                (self._last_ms << (_WORKER_BITS + _SEQUENCE_BITS))
                | (worker_id << _SEQUENCE_BITS)
                | self._sequence
            )

    def _current(self) -> int:
        now = self._monotonic()
        for worker_id, until in reversed(self._held.values()):
            if now < until:
                return worker_id
        raise WorkerIdLapsed("This process holds no Snowflake worker id it may mint with.")


def snowflake_time(snowflake: int) -> datetime:
    ms = (snowflake >> (_WORKER_BITS + _SEQUENCE_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def snowflake_floor(moment: datetime) -> int:
    """The smallest id that can be minted at `moment`."""
    ms = int(moment.timestamp() * 1000) - EPOCH_MS
    return max(ms, 0) << (_WORKER_BITS + _SEQUENCE_BITS)


_generator = SnowflakeGenerator()  # the process's: holds the ids core/worker_ids.py leases


def hold(lease: str, worker_id: int, until: float = math.inf, *, floor_ms: int = 0) -> None:
    _generator.hold(lease, worker_id, until, floor_ms=floor_ms)


def drop(lease: str) -> None:
    _generator.drop(lease)


def last_minted_ms() -> int:
    return _generator.last_ms


def new_id() -> int:
    """A new Snowflake; WorkerIdLapsed while this process holds no worker id."""
    return _generator.next_id()


def to_global_id(type_name: str, raw_id: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def parse_raw_id(raw: str) -> int | None:
    """The id `raw` spells as str(id) does, when it fits PostgreSQL's bigint; else None."""
    try:
        raw_id = int(raw)
    except ValueError:
        return None
    return raw_id if 0 < raw_id < 1 << 63 and raw == str(raw_id) else None


def parse_global_id(global_id: str) -> tuple[str, int]:
    """Returns (type name, raw id); BAD_USER_INPUT when it is not one of ours."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode().partition(":")
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput("Malformed id.") from None
    raw_id = parse_raw_id(raw)
    if not type_name.isalpha() or raw_id is None:
        raise BadUserInput("Malformed id.")
    return type_name, raw_id


def expect_global_id(global_id: str, type_name: str) -> int:
    kind, raw_id = parse_global_id(global_id)
    if kind != type_name:
        raise BadUserInput(f"Expected the id of a {type_name}.")
    return raw_id
