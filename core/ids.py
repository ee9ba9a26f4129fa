"""Snowflake ids and opaque Relay global ids."""

from __future__ import annotations

import base64
import binascii
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


class SnowflakeGenerator:
    """41-bit milliseconds, 10-bit worker, 12-bit sequence; monotonic within a process.

    When the clock steps back, ids keep counting from the last millisecond used
    instead of going backwards or waiting for the clock to catch up.
    """

    def __init__(self, worker_id: int, clock: Callable[[], int] | None = None) -> None:
        if not 0 <= worker_id <= MAX_WORKER_ID:
            raise ValueError(f"worker id must be 0..{MAX_WORKER_ID}")
        self.worker_id = worker_id
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._last_ms = -1
        self._sequence = 0
        self._lock = threading.Lock()

    def next_id(self) -> int:
        with self._lock:
            now = self._clock() - EPOCH_MS
            if now > self._last_ms:
                self._last_ms, self._sequence = now, 0
            elif self._sequence < _MAX_SEQUENCE:
                self._sequence += 1
            else:
                self._last_ms, self._sequence = self._last_ms + 1, 0
            return (
                (self._last_ms << (_WORKER_BITS + _SEQUENCE_BITS))
                | (self.worker_id << _SEQUENCE_BITS)
                | self._sequence
            )


def snowflake_time(snowflake: int) -> datetime:
    ms = (snowflake >> (_WORKER_BITS + _SEQUENCE_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def snowflake_floor(moment: datetime) -> int:
    """The smallest id that can be minted at `moment`."""
    ms = int(moment.timestamp() * 1000) - EPOCH_MS
    return max(ms, 0) << (_WORKER_BITS + _SEQUENCE_BITS)


_generator = SnowflakeGenerator(0)


def configure(worker_id: int) -> None:
    global _generator
    _generator = SnowflakeGenerator(worker_id)


def new_id() -> int:
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
