"""Expected failures, each with the contract's error code (CONTRACT.md, "Errors")."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.schema.exceptions import CannotGetOperationTypeError

from core.metrics import ERRORS, series

INTERNAL_MESSAGE = "Internal server error."


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


class PersistedQueryNotFound(ApiError):
    """Apollo clients answer this by sending the query with its hash; HTTP 200, as they expect."""

    code = "PERSISTED_QUERY_NOT_FOUND"
    http_status = 200

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


def is_unexpected(error: GraphQLError) -> bool:
    """A bug rather than bad input: logged, and masked for the client. Besides exceptions, the
    execution's own errors (a non-null field that resolved to null, a value its type cannot
    serialize) carry a path and no code."""
    original = error.original_error
    if original is None:
        return error.path is not None and "code" not in (error.extensions or {})
    return not isinstance(original, ApiError | GraphQLError | CannotGetOperationTypeError)


def stage_code(error: GraphQLError) -> str | None:
    """The code of an error of the request itself (parse, validation); None for others."""
    if isinstance(error.original_error, ApiError) or is_unexpected(error) or error.path:
        return None
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


def format_error(error: GraphQLError, *, variables_stage: bool = False) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, CannotGetOperationTypeError):  # operationName names no operation
        original = BadUserInput(original.as_http_error_reason())
    if isinstance(original, ApiError):
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code, **original.extensions}
    elif is_unexpected(error):
        formatted = {"message": INTERNAL_MESSAGE, "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        if error.path:
            formatted["path"] = error.path
    else:
        extensions = error.extensions or {}
        staged = "BAD_USER_INPUT" if variables_stage else stage_code(error) or "BAD_USER_INPUT"
        formatted["extensions"] = {**extensions, "code": extensions.get("code") or staged}
    series(ERRORS, formatted["extensions"]["code"]).inc()
    return formatted


def format_api_error(error: ApiError) -> dict[str, Any]:
    """An expected failure raised outside GraphQL execution (before it), as GraphQL clients see
    every error: formatted, and counted, by format_error."""
    return format_error(GraphQLError(error.message, original_error=error))
