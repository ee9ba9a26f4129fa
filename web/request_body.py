"""Reading a request body within the size limit (CONTRACT.md: over 1 MiB is HTTP 413)."""

from __future__ import annotations

from starlette.requests import Request

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = "The request body is larger than 1 MiB."


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request) -> bytes:
    """The whole body; BodyTooLarge as soon as it is known to pass the limit."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise BodyTooLarge(TOO_LARGE)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)
