"""The engine against graphql-core, the oracle (GRAPHQL_ENGINE_DIFFERENTIAL, on in the tests).

A query or a subscription event runs by the engine (its result is the one answered) and by
graphql-core alone on a copy of the executor (after a first run of graphql-core's that warms
the loaders for both); a mutation's root fields run once, and
each one's result is completed twice. The two must give the same JSON, byte for byte: data,
and errors with their messages, locations, paths and extensions, in the same order. A
difference raises EngineMismatch with both, and is kept in MISMATCHES for the test to fail on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from copy import copy
from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult, GraphQLError
from graphql.execution.executor import CollectedErrors, Executor
from graphql.pyutils import Path
from graphql.type import GraphQLResolveInfo

if TYPE_CHECKING:
    from engine.plan import FieldPlan
    from engine.run import Run

logger = logging.getLogger("chirp.engine")
MISMATCHES: list[str] = []


class EngineMismatch(AssertionError):
    pass


def compare_operation(
    executor: Executor[Any], run: Callable[[], Any], serially: bool | None
) -> Any:
    """The engine's result (`run()`), once graphql-core's has been compared with it.

    graphql-core runs first too, its answer dropped: the loaders then hold what the operation
    reads, for both runs compared alike (an operation's errors come in the order its
    coroutines meet them, which a first, cold read would change)."""
    warm = _oracle_operation(executor, serially)
    if not executor.is_awaitable(warm):
        mine = run()
        if not executor.is_awaitable(mine):
            theirs = _oracle_operation(executor, serially)
            if not executor.is_awaitable(theirs):
                _check(_result_json(mine), _result_json(theirs))
                return mine

    async def compared() -> Any:
        await _awaited(warm)
        mine = await _awaited(run())
        theirs = await _awaited(_oracle_operation(executor, serially))
        _check(_result_json(mine), _result_json(theirs))
        return mine

    return compared()


def compare_field(
    executor: Executor[Any],
    run: Run,
    field: FieldPlan,
    info: GraphQLResolveInfo[Any],
    path: Path,
    result: Any,
) -> Any:
    """A mutation's root field: its result completed by the engine, then by graphql-core."""
    errors = executor.collected_errors.errors
    before = len(errors)
    raised: GraphQLError | None = None
    try:
        mine = run.complete_root(field, result, path)
    except GraphQLError as error:
        mine, raised = None, error
    if raised is None and executor.is_awaitable(mine):

        async def compared() -> Any:
            value, error = await _outcome(mine)
            theirs = await _awaited(_oracle_field(executor, field, info, path, result))
            return _checked(_field_json(value, error, errors[before:]), theirs, value, error)

        return compared()
    theirs = _oracle_field(executor, field, info, path, result)
    if executor.is_awaitable(theirs):

        async def compared_later() -> Any:
            return _checked(_field_json(mine, raised, errors[before:]), await theirs, mine, raised)

        return compared_later()
    return _checked(_field_json(mine, raised, errors[before:]), theirs, mine, raised)


async def _outcome(awaitable: Any) -> tuple[Any, GraphQLError | None]:
    try:
        return await awaitable, None
    except GraphQLError as error:
        return None, error


async def _awaited(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


def _checked(mine: str, theirs: str, value: Any, raised: GraphQLError | None) -> Any:
    _check(mine, theirs)
    if raised is not None:
        raise raised
    return value


def _oracle(executor: Executor[Any]) -> Any:
    oracle = copy(executor)
    oracle.engine_plan = None  # type: ignore[attr-defined]
    oracle.engine_run = None  # type: ignore[attr-defined]
    oracle.collected_errors = CollectedErrors()
    return oracle


def _oracle_operation(executor: Executor[Any], serially: bool | None) -> Any:
    return Executor.execute_operation(_oracle(executor), serially)


def _oracle_field(
    executor: Executor[Any],
    field: FieldPlan,
    info: GraphQLResolveInfo[Any],
    path: Path,
    result: Any,
) -> Any:
    """graphql-core's completion of the same value, as JSON (or an awaitable of it)."""
    oracle = _oracle(executor)
    try:
        completed = Executor.complete_value(
            oracle, info.return_type, field.details, info, path, result, None
        )
    except GraphQLError as raised:
        return _field_json(None, raised, oracle.collected_errors.errors)
    if not executor.is_awaitable(completed):
        return _field_json(completed, None, oracle.collected_errors.errors)

    async def awaited() -> str:
        try:
            value = await completed
        except GraphQLError as raised:
            return _field_json(None, raised, oracle.collected_errors.errors)
        return _field_json(value, None, oracle.collected_errors.errors)

    return awaited()


def _result_json(result: ExecutionResult) -> str:
    errors = [error.formatted for error in result.errors or ()]
    return json.dumps({"data": result.data, "errors": errors}, default=repr)


def _field_json(value: Any, raised: GraphQLError | None, errors: list[GraphQLError]) -> str:
    body = {
        "value": value,
        "raised": None if raised is None else raised.formatted,
        "errors": [error.formatted for error in errors],
    }
    return json.dumps(body, default=repr)


def _check(mine: str, theirs: str) -> None:
    if mine != theirs:
        report = (
            f"the engine and graphql-core differ:\nengine:       {mine}\ngraphql-core: {theirs}"
        )
        MISMATCHES.append(report)
        logger.error("%s", report)
        raise EngineMismatch(report)
