"""GraphQL errors as clients see them: a contract code on each, nothing internal leaked."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from core.errors import ApiError, is_unexpected

INTERNAL_MESSAGE = "Internal server error."


def is_request_error(result: ExecutionResult) -> bool:
    """True when the request never reached the resolvers (parse, validation, variables)."""
    if isinstance(result, PreExecutionError):
        return True
    errors = result.errors or []
    return result.data is None and bool(errors) and all(_stage_code(e) for e in errors)


def _stage_code(error: GraphQLError) -> str | None:
    if isinstance(error.original_error, ApiError) or is_unexpected(error) or error.path:
        return None
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


def format_errors(result: ExecutionResult) -> list[dict[str, Any]]:
    request_stage = is_request_error(result) and not isinstance(result, PreExecutionError)
    return [format_error(error, variables_stage=request_stage) for error in result.errors or []]


def format_error(error: GraphQLError, *, variables_stage: bool = False) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, ApiError):
        formatted["message"] = original.message
        formatted["extensions"] = {"code": original.code, **original.extensions}
    elif is_unexpected(error):
        formatted = {"message": INTERNAL_MESSAGE, "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
        if error.path:
            formatted["path"] = error.path
    else:
        code = "BAD_USER_INPUT" if variables_stage else _stage_code(error) or "BAD_USER_INPUT"
        formatted["extensions"] = {**(error.extensions or {}), "code": code}
    return formatted
