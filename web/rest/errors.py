"""Errors of the REST API: the contract's codes as `{"error": {"code", "message"}}`."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from pydantic import Field
from starlette.responses import JSONResponse
from typing_extensions import TypedDict

from core.errors import (
    INTERNAL_MESSAGE,
    ApiError,
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from core.metrics import ERRORS

log = logging.getLogger(__name__)

Code = Literal[
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "RATE_LIMITED",
    "PAYLOAD_TOO_LARGE",
    "METHOD_NOT_ALLOWED",
]


class ErrorDetail(TypedDict):
    code: Annotated[Code, Field(description="The contract's error code, as in GraphQL.")]
    message: Annotated[str, Field(description="For people; may change between releases.")]


class Error(TypedDict):
    """Every expected failure: the same code GraphQL gives in `extensions.code`."""

    error: ErrorDetail


class PayloadTooLarge(ApiError):
    """The body is over the 1 MiB limit (an image: over MEDIA_MAX_BYTES)."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class MethodNotAllowed(ApiError):
    """The path exists, but not with this method (the Allow header lists those it has)."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405


# what each status means in the document
STATUSES: dict[int, str] = {
    BadUserInput.http_status: "BAD_USER_INPUT: malformed JSON, id, cursor or parameter, or "
    "input the service refuses (text length, handle format, limit out of range).",
    Unauthenticated.http_status: "UNAUTHENTICATED: sign-in needed (a missing, expired or bad "
    "bearer token), or bad credentials.",
    Forbidden.http_status: "FORBIDDEN: signed in, but not allowed (someone else's tweet).",
    NotFound.http_status: "NOT_FOUND: no such user or tweet, or it was deleted.",
    Conflict.http_status: "CONFLICT: handle taken; edit window closed or edit limit reached.",
    PayloadTooLarge.http_status: "PAYLOAD_TOO_LARGE: the request body is larger than 1 MiB "
    "(an image: than MEDIA_MAX_BYTES).",
    RateLimited.http_status: "RATE_LIMITED: over a rate limit; Retry-After gives whole seconds.",
}


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    ERRORS.labels(error.code).inc()
    headers = dict(headers or {})
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, Unauthenticated):  # RFC 6750: which scheme would sign in
        headers["WWW-Authenticate"] = 'Bearer realm="chirp"'

    body = {"error": {"code": error.code, "message": error.message}}
    return JSONResponse(body, status_code=error.http_status, headers=headers)


def unexpected_response() -> JSONResponse:
    """A bug: logged with its stack trace here, never shown to the client."""
    log.exception("unexpected error in a REST call")
    ERRORS.labels("INTERNAL_SERVER_ERROR").inc()
    body = {"error": {"code": "INTERNAL_SERVER_ERROR", "message": INTERNAL_MESSAGE}}
    return JSONResponse(body, status_code=500)
