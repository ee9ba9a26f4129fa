"""core/jsons.py reads and writes what the standard library's json does, errors included, and
redis-py parses replies with hiredis."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.utils

from core import jsons

HUGE: list[str | bytes] = [
    b'{"n": 123456789012345678901234567890}',  # orjson would read a float
    b'{"n": -99999999999999999999}',
]
WITHIN_64_BITS: list[str | bytes] = [
    b'{"query": "{ viewer { id } }", "variables": {"n": 20, "id": 9223372036854775807}}',
    b'{"n": NaN, "m": Infinity}',
    b'"\\ud800 lone"',
    '"\ud800 raw"',
    b'{"a": 1, "a": 2}',
    b"1e400",
    b'\xef\xbb\xbf{"bom": 1}',
    '{"utf16": "é"}'.encode("utf-16"),
    b'{"bad": "\xff"}',
    b"[1, 2",
    b"",
]
BODIES = HUGE + WITHIN_64_BITS


def _outcome(call: Any, value: Any) -> tuple[str, Any]:
    try:
        result = call(value)
    except Exception as error:  # noqa: BLE001 - the kind of error is the outcome
        return "error", type(error).__name__
    return "value", repr(result)


@pytest.mark.parametrize("raw", BODIES)
def test_loads_as_json_does(raw: str | bytes) -> None:
    assert _outcome(jsons.loads, raw) == _outcome(json.loads, raw)


@pytest.mark.parametrize("raw", WITHIN_64_BITS)
def test_loads_own_as_json_does_within_64_bits(raw: str | bytes) -> None:
    assert _outcome(jsons.loads_own, raw) == _outcome(json.loads, raw)


VALUES: list[Any] = [
    {"data": {"a": [1, True, None, 'é\u2028<>&"\\'], "b": {}}, "errors": []},
    {"big": 2**70},  # past 64 bits: orjson refuses it
    {"lone": "\ud800"},  # json's error, as before
    {1: "key not a string"},
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_as_starlette_renders(value: Any) -> None:
    def starlette(content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    assert _outcome(jsons.dumps, value) == _outcome(starlette, value)


def test_redis_parses_replies_with_hiredis() -> None:
    assert redis.utils.HIREDIS_AVAILABLE
