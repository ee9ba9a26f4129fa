"""GraphQL errors as clients see them: a contract code on each, nothing internal leaked."""

from __future__ import annotations

from typing import Any

from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from core.errors import RateLimited, format_error, stage_code


def is_request_error(result: ExecutionResult) -> bool:
    """True when the request never reached the resolvers (parse, validation, variables)."""
    if isinstance(result, PreExecutionError):
        return True
    errors = result.errors or []
    return result.data is None and bool(errors) and all(stage_code(e) for e in errors)


def format_errors(result: ExecutionResult) -> list[dict[str, Any]]:
    request_stage = is_request_error(result) and not isinstance(result, PreExecutionError)
    return [format_error(error, variables_stage=request_stage) for error in result.errors or []]


def refused_before_execution(result: ExecutionResult) -> RateLimited | None:
    """The rate limit that refused the whole operation before it ran (HTTP 429), if one did."""
    errors = result.errors or []
    if result.data is None and len(errors) == 1 and not errors[0].path:
        original = errors[0].original_error
        return original if isinstance(original, RateLimited) else None
    return None
