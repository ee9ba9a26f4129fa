"""Validation before anything runs: graphql-core's rules, cached, bounded for hostile documents.

OverlappingFieldsCanBeMerged compares the fields that share a response name two by two: 400
copies of `viewer { id }` (2,000 tokens) kept it busy over a second. graphql-core meters that
work with a budget of units (500,000 by default, for the whole process); here a document gets
OVERLAP_BUDGET, some ten times what a client's query spends (a timeline query spreading a dozen
fragments side by side, about 2,000), and one that needs more fails validation ("Validation
aborted.", GRAPHQL_VALIDATION_FAILED) within tens of milliseconds.

With introspection off (INTROSPECTION=0), no error suggests a name ("Did you mean 'viewer'?"):
suggestions are enough for tools that rebuild a schema from them. The executor hides them from
the errors of variables too (schema/shared_events.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.validation import (
    ASTValidationRule,
    NoSchemaIntrospectionCustomRule,
    OverlappingFieldsCanBeMergedRule,
    ValidationContext,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from core.identity_cache import IdentityCache
from schema.context import settings_of

OVERLAP_BUDGET = 20_000
CACHED = 1024  # validated documents kept, with their errors (the parser cache's size)


class _BoundedOverlaps(OverlappingFieldsCanBeMergedRule):
    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rule_context.remaining_complexity_budget = OVERLAP_BUDGET


class Validation(SchemaExtension):
    """In place of Strawberry's ValidationCache, whose validation cannot hide suggestions."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None  # validation follows a successful parse
        introspection = settings_of(context.context).introspection
        rules = tuple(
            _BoundedOverlaps if rule is OverlappingFieldsCanBeMergedRule else rule
            for rule in context.validation_rules
        )
        if not introspection:
            rules += (NoSchemaIntrospectionCustomRule,)
        errors = _validate(
            context.schema._schema, context.graphql_document, rules, not introspection
        )
        context.pre_execution_errors = list(errors)  # a copy: the cached list stays as it is
        yield


_validated: IdentityCache[list[GraphQLError]] = IdentityCache(CACHED)


def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    """Kept by the document's identity (the parser cache hands out the same document for the
    same text), not its value."""
    found = _validated.get((schema, document), (rules, hide_suggestions))
    if found is not None:
        return found
    errors = validate(
        schema,
        document,
        (*rules, MaybeNullValidationRule, OneOfInputValidationRule),  # as Strawberry's own
        hide_suggestions=hide_suggestions,
    )
    return _validated.put((schema, document), errors, (rules, hide_suggestions))
