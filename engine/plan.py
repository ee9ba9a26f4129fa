"""Plans: an operation's selections compiled once, then kept for every request that sends it.

A plan holds, for each field of a selection on an object type, what graphql-core works out
again for every object of every request: the field's definition, its arguments when they are
literals, how its value is read (a plain attribute of our Strawberry types becomes a getattr
of its Python name) and how the value completes (its type, unwrapped once: nullable or not,
a leaf with the check that lets the common values through as they are, a list, an object).
The fields of each selection are collected by graphql-core's own collect_subfields (merging,
fragments, type conditions, @skip and @include: exactly its order and grouping), once per
runtime type. @skip and @include read variables, so a plan is kept per operation and per the
values of the variables they read (most documents read none: one plan).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    ValueNode,
    VariableNode,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    visit,
)
from graphql.execution.collect_fields import FieldDetailsList, collect_subfields
from graphql.execution.values import get_argument_values
from graphql.language import Visitor
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.types.field import StrawberryField

from core.identity_cache import IdentityCache

if TYPE_CHECKING:
    from graphql.execution import Executor

LEAF, OBJECT, ABSTRACT, LIST = range(4)
STR, INT, BOOL = range(1, 4)  # the leaves whose common values pass as they are
_FAST = {GraphQLString.name: STR, GraphQLID.name: STR, GraphQLInt.name: INT}
_FAST[GraphQLBoolean.name] = BOOL
_BACKREF = "strawberry-definition"  # where Strawberry keeps a field's definition
PLANS = 1024  # operations kept (the parser and validation caches' size)
_COMBINATIONS = 64  # plans per operation: values of the variables @skip and @include read


class Shape:
    """How a value of one output type completes."""

    __slots__ = (
        "abstract",
        "fast",
        "item",
        "kind",
        "leaf",
        "nullable",
        "object_type",
        "plain_is_type_of",
        "type",
    )

    def __init__(self, type_: GraphQLOutputType) -> None:
        self.type = type_
        self.nullable = not is_non_null_type(type_)
        inner: Any = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        self.leaf: GraphQLLeafType | None = None
        self.fast = 0
        self.item: Shape | None = None
        self.abstract: Any = None
        self.object_type: GraphQLObjectType | None = None
        self.plain_is_type_of = False
        if is_list_type(inner):
            self.kind = LIST
            self.item = Shape(inner.of_type)
        elif is_leaf_type(inner):
            self.kind = LEAF
            self.leaf = inner
            # only the built-in scalars: a schema may not replace them
            builtin = inner in (GraphQLString, GraphQLID, GraphQLInt, GraphQLBoolean)
            self.fast = _FAST.get(inner.name, 0) if builtin else 0
        elif is_abstract_type(inner):
            self.kind = ABSTRACT
            self.abstract = inner
        else:
            self.kind = OBJECT
            self.object_type = inner
            self.plain_is_type_of = _plain_is_type_of(inner.is_type_of)


class FieldPlan:
    """One response key of a selection on one object type."""

    __slots__ = (
        "args",
        "attr",
        "children",
        "definition",
        "details",
        "key",
        "name",
        "nodes",
        "null_message",
        "order",
        "parent_name",
        "parent_type",
        "resolve",
        "shape",
        "typename",
    )

    def __init__(
        self,
        parent_type: GraphQLObjectType,
        key: str,
        order: int,
        details: FieldDetailsList,
        definition: GraphQLField,
        executor: Executor[Any],
    ) -> None:
        node = details[0].node
        self.parent_type = parent_type
        self.parent_name = parent_type.name
        self.key = key
        self.order = order
        self.details = details
        self.nodes: list[FieldNode] = [detail.node for detail in details]
        self.name = node.name.value
        self.definition = definition
        self.shape = Shape(definition.type)
        self.typename = definition is TypeNameMetaFieldDef
        self.attr = _plain_attribute(definition)
        self.resolve: Callable[..., Any] = definition.resolve or executor.field_resolver
        self.args = _static_arguments(definition, details, executor)
        self.null_message = f"Cannot return null for non-nullable field {parent_type}.{self.name}."
        self.children: dict[GraphQLObjectType, SelectionPlan] = {}

    def child(self, runtime_type: GraphQLObjectType, executor: Executor[Any]) -> SelectionPlan:
        """The selection of this field's objects of `runtime_type`, compiled on first use."""
        found = self.children.get(runtime_type)
        if found is None:
            found = SelectionPlan.collect(runtime_type, self.details, executor)
            self.children[runtime_type] = found
        return found


class SelectionPlan:
    """The fields to complete on every object of one type under one field."""

    __slots__ = ("fields", "type", "type_name")

    def __init__(self, type_: GraphQLObjectType, fields: tuple[FieldPlan, ...]) -> None:
        self.type = type_
        self.type_name = type_.name
        self.fields = fields

    @classmethod
    def collect(
        cls, type_: GraphQLObjectType, details: FieldDetailsList, executor: Executor[Any]
    ) -> SelectionPlan:
        collected = collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            type_,
            details,
            executor.hide_suggestions,
        )
        fields: list[FieldPlan] = []
        for key, grouped in collected.grouped_field_set.items():
            definition = executor.schema.get_field(type_, grouped[0].node.name.value)
            if definition is not None:  # graphql-core leaves an unknown field out too
                fields.append(FieldPlan(type_, key, len(fields), grouped, definition, executor))
        return cls(type_, tuple(fields))


class Plan:
    """The root fields of one operation, for one set of values of its directives' variables."""

    __slots__ = ("roots",)

    def __init__(self) -> None:
        self.roots: dict[tuple[Hashable, ...], FieldPlan] = {}

    def root(
        self,
        parent_type: GraphQLObjectType,
        details: FieldDetailsList,
        executor: Executor[Any],
    ) -> FieldPlan | None:
        key = (parent_type, *(id(detail.node) for detail in details))
        found = self.roots.get(key)
        if found is None:
            node = details[0].node
            definition = executor.schema.get_field(parent_type, node.name.value)
            if definition is None:
                return None
            response_key = node.alias.value if node.alias else node.name.value
            found = FieldPlan(parent_type, response_key, 0, details, definition, executor)
            self.roots[key] = found
        return found


class _Operation:
    """An operation's plans, by the values of the variables its @skip and @include read."""

    __slots__ = ("conditions", "fallback", "operation", "plans", "schema")

    def __init__(self, schema: GraphQLSchema, operation: OperationDefinitionNode) -> None:
        self.schema = schema
        self.operation = operation
        self.conditions: tuple[str, ...] = ()
        self.fallback: str | None = None
        self.plans: dict[tuple[Any, ...], Plan] = {}


_operations: IdentityCache[_Operation] = IdentityCache(PLANS)
_MISSING = object()


def plan_for(executor: Executor[Any]) -> Plan | str:
    """The plan of the executor's operation, or why it has none (a fallback's reason)."""
    operation = executor.operation
    found = _operations.get((executor.schema, operation))
    if found is None:
        found = _Operation(executor.schema, operation)
        if any(fragment.variable_signatures for fragment in executor.fragments.values()):
            found.fallback = "fragment_arguments"
        else:
            definitions = [operation] + [f.definition for f in executor.fragments.values()]
            found.conditions = _condition_variables(definitions)
        _operations.put((executor.schema, operation), found)
    if found.fallback is not None:
        return found.fallback
    coerced = executor.variable_values.coerced
    key = (executor.hide_suggestions, *(coerced.get(name, _MISSING) for name in found.conditions))
    plan = found.plans.get(key)
    if plan is None:
        if len(found.plans) >= _COMBINATIONS:
            found.plans.clear()
        plan = found.plans[key] = Plan()
    return plan


def _condition_variables(definitions: list[Any]) -> tuple[str, ...]:
    """The variables that @skip and @include read in these definitions, sorted."""
    names: set[str] = set()

    class Conditions(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            if node.name.value in ("skip", "include"):
                for argument in node.arguments or ():
                    names.update(_variables(argument.value))

    for definition in definitions:
        visit(definition, Conditions())
    return tuple(sorted(names))


def _variables(value: ValueNode) -> set[str]:
    if isinstance(value, VariableNode):
        return {value.name.value}
    if isinstance(value, ListValueNode):
        return {name for item in value.values for name in _variables(item)}
    if isinstance(value, ObjectValueNode):
        return {name for field in value.fields for name in _variables(field.value)}
    return set()


def _plain_is_type_of(is_type_of: Callable[..., Any] | None) -> bool:
    """Whether the type's is_type_of is Strawberry's own (for a type with interfaces): an
    isinstance check that reads no resolve info and returns a boolean, never an awaitable."""
    return (
        is_type_of is not None
        and is_type_of.__module__ == "strawberry.schema.schema_converter"
        and is_type_of.__qualname__.endswith("._get_is_type_of.<locals>.is_type_of")
    )


def _plain_attribute(definition: GraphQLField) -> str | None:
    """The Python name of a Strawberry field without a resolver, read with getattr (what
    Strawberry's own resolver for it does); None for any other field."""
    if not getattr(definition.resolve, "_is_default", False):
        return None
    field = (definition.extensions or {}).get(_BACKREF)
    if not isinstance(field, StrawberryField) or field.base_resolver or field.extensions:
        return None
    if field.default_resolver is not getattr:
        return None
    return field.python_name


def _static_arguments(
    definition: GraphQLField, details: FieldDetailsList, executor: Executor[Any]
) -> dict[str, Any] | None:
    """The field's arguments when they are the same for every request (literals only, or none);
    None when they read variables (they are coerced once per request and field instead)."""
    first = details[0]
    node = first.node
    if not definition.args and not node.arguments:
        return {}
    if first.fragment_variable_values is not None or any(
        _variables(argument.value) for argument in node.arguments or ()
    ):
        return None
    try:
        return get_argument_values(
            definition, node, executor.variable_values, None, executor.hide_suggestions
        )
    except Exception:  # noqa: BLE001 - coerced per object instead, where the error belongs
        return None
