"""How big an operation is before it runs: its tokens, depth, aliases and estimated cost.

The cost is GitHub's kind of estimate, about the most objects the response can hold. Every
object costs 1 each time it can be fetched; a connection (a `...Connection` type with a
`first` argument) costs 1 and multiplies what it selects, edges, nodes and pageInfo, by its
`first`: the value execution will give it, read with graphql-core's own coercion from the
coerced variables (so `100.0` counts as the 100 it becomes), else the argument's default, the
page size its resolver uses. Another list of objects counts `first` or `limit` items, else
LIST_SIZE. So
`homeTimeline(first: 100) { edges { node { replies(first: 100) { edges { node { id } } } } } }`
costs 1 + 100 * (1 + 1 + 1 + 100 * (1 + 1)) = 20,301. Introspection reads no data and
costs 0; its `ofType` chain (a type's wrappers, a few levels) adds no depth, so that
GraphiQL's introspection query passes QUERY_MAX_DEPTH. Every walk reads each fragment once,
however often it is spread, so that the measures are linear in the document's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Source,
    VariableNode,
    get_argument_values,
    get_named_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
)
from graphql.execution import VariableValues
from graphql.language import Lexer, TokenKind
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

LIST_SIZE = 20  # items counted for a list of objects without `first` or `limit`
MAX_NESTING = 64  # brackets; deeper documents are refused before the parser recurses
_OPENING = (TokenKind.BRACE_L, TokenKind.PAREN_L, TokenKind.BRACKET_L)
_CLOSING = (TokenKind.BRACE_R, TokenKind.PAREN_R, TokenKind.BRACKET_R)
_META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


@dataclass(frozen=True)
class Lexical:
    tokens: int  # comments included; stops counting at the limit plus one
    nesting: int  # the deepest bracket nesting seen


def lexical_size(query: str, max_tokens: int) -> Lexical:
    """Reads tokens with graphql-core's lexer, no further than the first one over a limit."""
    lexer = Lexer(Source(query))
    token = lexer.token
    tokens = nesting = deepest = 0
    while True:
        token = lexer.read_next_token(token.end)
        if token.kind == TokenKind.EOF:
            break
        tokens += 1
        if token.kind in _OPENING:
            nesting += 1
            deepest = max(deepest, nesting)
        elif token.kind in _CLOSING:
            nesting -= 1
        if tokens > max_tokens or deepest > MAX_NESTING:
            break
    return Lexical(tokens=tokens, nesting=deepest)


@dataclass(frozen=True)
class Size:
    depth: int
    aliases: int
    cost: int
    introspection_keys: frozenset[str]  # response keys of root introspection fields
    reads_variables: bool  # a count came from a variable: the same document may measure more


def operation_size(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues,
) -> Size:
    """Depth, aliases and cost of a validated operation (no fragment cycles, known fields),
    with its variables as execution coerces them (graphql-core's `get_variable_values`)."""
    walker = _Walker(schema, document, variables)
    root = _root_type(schema, operation.operation)
    cost, depth = walker.selection(operation.selection_set, root, introspection=False)
    return Size(
        depth=depth,
        aliases=_aliases(document),
        cost=cost,
        introspection_keys=walker.root_introspection(operation.selection_set),
        reads_variables=walker.reads_variables,
    )


def _root_type(schema: GraphQLSchema, kind: OperationType) -> GraphQLObjectType:
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[kind]
    assert root is not None  # validation refuses operations the schema has no root for
    return root


def _aliases(document: DocumentNode) -> int:
    count = 0
    stack: list[SelectionSetNode] = [
        definition.selection_set
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode) and selection.alias is not None:
                count += 1
            selection_set = getattr(selection, "selection_set", None)
            if selection_set is not None:
                stack.append(selection_set)
    return count


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: VariableValues,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables
        self.reads_variables = False
        # cost per instance of its type and depth, of each fragment: a fragment spread many
        # times is walked once, so nested spreads cannot make the walk exponential
        self._seen: dict[tuple[str, bool], tuple[int, int]] = {}

    def selection(
        self, selection_set: SelectionSetNode, parent: Any, *, introspection: bool
    ) -> tuple[int, int]:
        """The cost of one instance of `parent` with these selections, and their depth."""
        cost = depth = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                node_cost, node_depth = self._field(node, parent, introspection=introspection)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                node_cost, node_depth = self.selection(
                    node.selection_set, inner, introspection=introspection
                )
            elif isinstance(node, FragmentSpreadNode):
                node_cost, node_depth = self._fragment(node, introspection=introspection)
            else:
                continue
            cost += node_cost
            depth = max(depth, node_depth)
        return cost, depth

    def _fragment(self, node: FragmentSpreadNode, *, introspection: bool) -> tuple[int, int]:
        key = (node.name.value, introspection)
        if key not in self._seen:
            fragment = self.fragments[node.name.value]
            inner = self.schema.get_type(fragment.type_condition.name.value)
            self._seen[key] = self.selection(
                fragment.selection_set, inner, introspection=introspection
            )
        return self._seen[key]

    def _field(self, node: FieldNode, parent: Any, *, introspection: bool) -> tuple[int, int]:
        name = node.name.value
        definition = self._definition(parent, name)
        if definition is None or node.selection_set is None:
            return 0, 1  # a leaf, __typename included
        introspection = introspection or name.startswith("__")
        child_type = get_named_type(definition.type)
        if not is_composite_type(child_type):
            return 0, 1
        inner_cost, inner_depth = self.selection(
            node.selection_set, child_type, introspection=introspection
        )
        depth = inner_depth + (0 if introspection and name == "ofType" else 1)
        if introspection:
            return 0, depth
        if _is_connection(child_type) and "first" in definition.args:
            size = self._count(node, definition, "first")
            return 1 + size * inner_cost, depth
        if _is_list(definition) and not _is_connection(parent):  # a page's list: counted above
            size = self._count(node, definition, "first", "limit")
            return size * (1 + inner_cost), depth
        return 1 + inner_cost, depth

    def _definition(self, parent: Any, name: str) -> GraphQLField | None:
        if name in _META_FIELDS:
            return _META_FIELDS[name]
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        return None

    def _count(self, node: FieldNode, definition: GraphQLField, *names: str) -> int:
        """The value execution gives the first of these arguments the field has (its literal,
        its variable or its default, coerced as the resolver gets it); LIST_SIZE when none."""
        if any(isinstance(argument.value, VariableNode) for argument in node.arguments or ()):
            self.reads_variables = True
        try:
            arguments = get_argument_values(definition, node, self.variables)
        except GraphQLError:  # execution fails this field the same way, before its resolver
            return LIST_SIZE
        for name in names:
            if name in definition.args:
                value = arguments.get(name)
                if value is None:  # null: the resolver takes its default
                    value = definition.args[name].default_value
                return max(value, 0) if isinstance(value, int) else LIST_SIZE
        return LIST_SIZE

    def root_introspection(self, selection_set: SelectionSetNode) -> frozenset[str]:
        keys: set[str] = set()
        spread: set[str] = set()  # fragments already read: a spread repeated adds no key
        stack = [selection_set]
        while stack:
            for node in stack.pop().selections:
                if isinstance(node, FieldNode):
                    if node.name.value in _META_FIELDS:
                        keys.add((node.alias or node.name).value)
                elif isinstance(node, InlineFragmentNode):
                    stack.append(node.selection_set)
                elif isinstance(node, FragmentSpreadNode) and node.name.value not in spread:
                    spread.add(node.name.value)
                    stack.append(self.fragments[node.name.value].selection_set)
        return frozenset(keys)


def _is_connection(named_type: Any) -> bool:
    return getattr(named_type, "name", "").endswith("Connection")


def _is_list(definition: GraphQLField) -> bool:
    field_type = definition.type
    if is_non_null_type(field_type):
        field_type = field_type.of_type
    return is_list_type(field_type)
