"""Expected failures, each with the contract's error code (CONTRACT.md, "Errors")."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class ApiError(Exception):
    code = "INTERNAL_SERVER_ERROR"
    http_status = 500

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(ApiError):
    code = "FORBIDDEN"
    http_status = 403


class NotFound(ApiError):
    code = "NOT_FOUND"
    http_status = 404


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"
    http_status = 400


class Conflict(ApiError):
    code = "CONFLICT"
    http_status = 409


class RateLimited(ApiError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retryAfter=retry_after)
        self.retry_after = retry_after


class QueryTooComplex(ApiError):
    code = "QUERY_TOO_COMPLEX"
    http_status = 400


def is_unexpected(error: GraphQLError) -> bool:
    """A bug rather than bad input: logged, and masked for the client."""
    return not isinstance(error.original_error, ApiError | GraphQLError | None)
