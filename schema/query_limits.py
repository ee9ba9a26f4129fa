"""Query limits (CONTRACT.md, "Rules and limits"), checked before anything runs.

Size and nesting are read with the lexer before the document is parsed, so a hostile
document costs no more than its first tokens over the limit. Depth, aliases and cost are
measured once the operation has validated (so fragments exist and do not cycle), on the
parsed document, cached or not, with the variables coerced as execution will coerce them
(`first: 100.0` is the 100 the resolver gets); variables that do not coerce are refused by
execution before anything runs. The estimated cost goes on the context as
`estimated_cost` at the end of validation, before execution; the response's
`extensions.cost` says it with the objects the response really holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLSchema,
    OperationDefinitionNode,
    get_operation_ast,
    get_variable_values,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from core.config import Settings
from core.errors import Forbidden, QueryTooComplex
from core.identity_cache import IdentityCache
from schema.context import settings_of
from schema.query_measure import MAX_NESTING, Size, lexical_size, operation_size
from services import persisted_queries


class QueryLimits(SchemaExtension):
    estimated: int | None = None
    actual: int | None = None
    _introspection_keys: frozenset[str] = frozenset()

    def on_parse(self) -> Iterator[None]:
        """Before the document is parsed (or taken from the parser cache, which comes after)."""
        context = self.execution_context
        settings = settings_of(context.context)
        if settings.persisted_queries_only and not _listed(settings, context.query):
            raise Forbidden(
                "Only persisted queries run here: send extensions.persistedQuery with the "
                "sha256Hash of an operation of the allow-list."
            )
        query = context.query
        if query is not None and context.graphql_document is None:
            passed = (query, settings.query_max_tokens)
            if passed not in _lexically_within:
                _check_lexical(query, settings.query_max_tokens)
                if len(query) <= _KEPT_TEXT:
                    _lexically_within[passed] = None
                if len(_lexically_within) > _KEPT:
                    with suppress(KeyError, StopIteration):
                        del _lexically_within[next(iter(_lexically_within))]
        yield

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.pre_execution_errors or context.graphql_document is None:
            return  # invalid: the validation errors say why
        operation = get_operation_ast(context.graphql_document, context.operation_name)
        if operation is None:
            return
        size = _measure(context.schema._schema, context.graphql_document, operation, context)
        if size is None:
            return  # variables that do not coerce: execution refuses them, with their errors
        settings = settings_of(context.context)
        self.estimated = size.cost
        self._introspection_keys = size.introspection_keys
        if hasattr(context.context, "estimated_cost"):
            context.context.estimated_cost = size.cost
        _refuse_over("depth", size.depth, settings.query_max_depth, "QUERY_MAX_DEPTH")
        _refuse_over("aliases", size.aliases, settings.query_max_aliases, "QUERY_MAX_ALIASES")
        _refuse_over("cost", size.cost, settings.query_max_cost, "QUERY_MAX_COST")

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        data = getattr(result, "data", None)
        if isinstance(data, dict):
            skipped = self._introspection_keys
            self.actual = sum(_objects(v) for key, v in data.items() if key not in skipped)

    def get_results(self) -> dict[str, Any]:
        if self.estimated is None or self._is_subscription():
            return {}  # subscription events keep their shared encoding (web/websocket.py)
        return {"cost": {"estimated": self.estimated, "actual": self.actual or 0}}

    def _is_subscription(self) -> bool:
        try:
            return self.execution_context.operation_type is OperationType.SUBSCRIPTION
        except RuntimeError:
            return False


_KEPT = 1024  # documents known to pass the lexical limits, sizes of operations
_KEPT_TEXT = 8192  # characters: longer texts are lexed every time (a bound on the memory)
# texts (with QUERY_MAX_TOKENS) that passed: the parser cache has them, no need to lex again
_lexically_within: dict[tuple[str, int], None] = {}
_sizes: IdentityCache[Size] = IdentityCache(_KEPT)


def _check_lexical(query: str, max_tokens: int) -> None:
    lexical = lexical_size(query, max_tokens)
    _refuse_over("tokens", lexical.tokens, max_tokens, "QUERY_MAX_TOKENS")
    if lexical.nesting > MAX_NESTING:
        raise QueryTooComplex(
            f"The document nests brackets deeper than {MAX_NESTING} levels.",
            limit="nesting",
            maximum=MAX_NESTING,
        )


def _measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    context: ExecutionContext,
) -> Size | None:
    """The operation's size; kept by its identity when no variable went into it."""
    found = _sizes.get((schema, document, operation))
    if found is not None:
        return found
    variables = get_variable_values(
        schema, operation.variable_definitions or (), context.variables or {}, max_errors=1
    )
    if isinstance(variables, list):
        return None
    size = operation_size(schema, document, operation, variables)
    if not size.reads_variables:
        _sizes.put((schema, document, operation), size)
    return size


_MEASURES = {
    "tokens": "The document has {value} tokens",
    "depth": "The query is {value} fields deep",
    "aliases": "The query has {value} aliases",
    "cost": "The query's estimated cost is {value}",
}


def _listed(settings: Settings, query: str | None) -> bool:
    allowed = persisted_queries.allow_list(settings.persisted_queries_only or "")
    return query is not None and persisted_queries.digest(query) in allowed


def _refuse_over(limit: str, value: int, maximum: int, variable: str) -> None:
    """QUERY_TOO_COMPLEX naming the limit, the value (for tokens: as far as they were
    counted) and the maximum."""
    if value > maximum:
        shown = f"more than {maximum}" if limit == "tokens" else str(value)
        raise QueryTooComplex(
            f"{_MEASURES[limit].format(value=shown)}; the limit is {maximum} ({variable}).",
            limit=limit,
            value=value,
            maximum=maximum,
        )


def _objects(value: Any) -> int:
    """How many objects a result value holds, itself included."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += 1
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count
