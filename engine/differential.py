"""The engine against graphql-core, the oracle (GRAPHQL_ENGINE_DIFFERENTIAL, on in the tests).

graphql-core runs each operation and its root fields' resolvers once (a mutation's side
effects happen once; a write meanwhile cannot change what the two see); the value of each root
field, of a query, a mutation or a subscription event, is then completed by the engine (its
answer is the one kept) and by graphql-core alone, on a copy of the executor. The two must give
the same JSON, byte for byte: the value, what it raised to the root field, and the errors under
it, with their messages, locations, paths and extensions, in the same order. A difference raises
EngineMismatch with both, and is kept in MISMATCHES for the test to fail on.
"""

from __future__ import annotations

import json
import logging
from copy import copy
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
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


def compare_field(
    executor: Executor[Any],
    run: Run,
    field: FieldPlan,
    info: GraphQLResolveInfo[Any],
    path: Path,
    result: Any,
) -> Any:
    """A root field's result completed by the engine, then by graphql-core."""
    errors = _Under(executor.collected_errors.errors, path.key)
    raised: GraphQLError | None = None
    try:
        mine = run.complete_root(field, result, path)
    except GraphQLError as error:
        mine, raised = None, error
    if raised is None and executor.is_awaitable(mine):

        async def compared() -> Any:
            value, error = await _outcome(mine)
            theirs = await _awaited(_oracle_field(executor, field, info, path, result))
            return _checked(_field_json(value, error, errors.since()), theirs, value, error)

        return compared()
    theirs = _oracle_field(executor, field, info, path, result)
    if executor.is_awaitable(theirs):

        async def compared_later() -> Any:
            return _checked(_field_json(mine, raised, errors.since()), await theirs, mine, raised)

        return compared_later()
    return _checked(_field_json(mine, raised, errors.since()), theirs, mine, raised)


class _Under:
    """The errors recorded under one root field since now (the other root fields of a query
    run meanwhile, and record theirs in the same list)."""

    def __init__(self, errors: list[GraphQLError], key: str | int) -> None:
        self.errors, self.key, self.start = errors, key, len(errors)

    def since(self) -> list[GraphQLError]:
        return [e for e in self.errors[self.start :] if e.path and e.path[0] == self.key]


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
