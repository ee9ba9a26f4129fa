"""JSON in and out of the hot paths (GraphQL responses and request bodies, cache values) by
orjson, with the standard library's json where orjson would answer otherwise.

orjson writes what `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` writes for
everything our responses hold (strings, ints, booleans, null, lists and objects; the schema
has no Float, whose spelling differs: orjson writes 1e-05 as 0.00001). What it refuses (an
integer past 64 bits, a lone surrogate, a key that is not a string) goes to json, so that the
outcome is json's, error included. On reading, orjson refuses NaN, lone surrogates, numbers
past a double and other encodings than UTF-8, all of which json reads: those go to json too,
and so does a body with a run of 20 digits, which orjson would read as a float where json
reads an integer (the difference between `Int cannot represent ... 1e+29` and `... 10**29`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_NUMBER = re.compile(rb"\d{20}")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Starlette's JSONResponse renders it."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads(raw: str | bytes) -> Any:
    """As json.loads (same values, same errors: ValueError, UnicodeDecodeError)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if _LONG_NUMBER.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def loads_own(raw: str | bytes) -> Any:
    """JSON this service wrote itself (cache values: integers within 64 bits), read by orjson
    without loads' scan for long numbers; what orjson refuses goes to json all the same."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
