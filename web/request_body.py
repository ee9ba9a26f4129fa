"""Reading a request body within the size limit (CONTRACT.md: over 1 MiB is HTTP 413), and
parsing JSON as every adapter does."""

from __future__ import annotations

from typing import Any

import pydantic_core
from starlette.requests import ClientDisconnect, Request

from core.errors import BadUserInput

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = "The request body is larger than 1 MiB."


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request) -> bytes:
    """The whole body; BodyTooLarge as soon as it is known to pass the limit, BadUserInput when
    the client is gone before it is in (it stalled past HTTP_BODY_TIMEOUT_SECONDS, or closed):
    an answer nobody reads, but the ordinary way out of the request."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise BodyTooLarge(TOO_LARGE)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BodyTooLarge(TOO_LARGE)
            chunks.append(chunk)
    except ClientDisconnect:
        raise BadUserInput("The request body did not arrive in full.") from None
    return b"".join(chunks)


def parse_json(raw: str | bytes) -> Any:
    """JSON with pydantic's parser, the one REST bodies go through: ValueError for anything it
    refuses, deep nesting (past 200 levels), invalid UTF-8 and lone surrogates ("\\ud800")
    included, where json.loads would raise RecursionError or hand on a string that cannot be
    encoded."""
    return pydantic_core.from_json(raw)
