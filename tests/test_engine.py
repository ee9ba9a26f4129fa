"""The execution engine (engine/) answers as graphql-core does, to the byte.

A small schema of its own covers what the served one rarely shows (errors in nested resolvers,
synchronous and not; nulls in lists; non-null propagation to every level; abstract types);
each document runs once by the engine and once by graphql-core alone, and the JSON must be
the same (the differential check of engine/differential.py runs inside too). The served
schema's cases go over HTTP: fragments on the Node interface, aliases of one field with
different arguments, @skip/@include by variables, __typename everywhere, introspection.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
import pytest
import strawberry
from graphql.execution.executor import Executor

from core.config import Settings
from core.metrics import ENGINE_FALLBACKS
from engine import differential
from engine.executor import EngineExecutor
from tests.graphql import gql, ok, register


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Item(Named):
    size: int
    color: Color
    maybe: str | None
    tags: list[str]
    children: list[Item | None]

    @strawberry.field
    async def slow(self) -> str:
        await asyncio.sleep(0)
        return self.name.upper()

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError(f"broken {self.name}")

    @strawberry.field
    async def broken_later(self) -> str | None:
        await asyncio.sleep(0)
        raise ValueError(f"broken later {self.name}")

    @strawberry.field
    def must(self) -> str:
        return None  # type: ignore[return-value]  # a resolver breaking its promise

    @strawberry.field
    async def must_later(self) -> str:
        await asyncio.sleep(0)
        return None  # type: ignore[return-value]

    @strawberry.field
    def nulls(self) -> list[str | None]:
        return ["a", None, "b"]

    @strawberry.field
    def bad_items(self) -> list[str]:
        return ["a", None]  # type: ignore[list-item]

    @strawberry.field
    def greet(self, name: str = "you", times: int = 1) -> str:
        return f"{self.name} greets {name}" * times

    @strawberry.field
    def too_big(self) -> int:
        return 2**40

    @strawberry.field
    async def child(self) -> Item | None:
        await asyncio.sleep(0)
        return self.children[0] if self.children else None

    @strawberry.field
    async def strict_child(self) -> Item:
        await asyncio.sleep(0)
        return self.children[0]  # type: ignore[return-value]  # None for a leaf item


@strawberry.type
class Other(Named):
    note: str


def _item(name: str, depth: int = 2) -> Item:
    children: list[Item | None] = (
        [_item(f"{name}.{n}", depth - 1) for n in range(2)] if depth else []
    )
    if depth:
        children.append(None)
    return Item(
        name=name,
        size=len(name),
        color=Color.RED if depth % 2 else Color.BLUE,
        maybe=None if depth % 2 else name,
        tags=[name, "tag"],
        children=children,
    )


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [_item("a"), _item("b")]

    @strawberry.field
    async def item(self, name: str = "a") -> Item:
        await asyncio.sleep(0)
        return _item(name)

    @strawberry.field
    def strict_items(self) -> list[Item]:
        return [_item("a"), None]  # type: ignore[list-item]

    @strawberry.field
    def half_built(self) -> list[Item | None]:
        return [_item("a"), Item.__new__(Item)]  # reading its attributes raises

    @strawberry.field
    def named(self) -> list[Named]:
        return [_item("a", 1), Other(name="o", note="n")]

    @strawberry.field
    def fails(self) -> str:
        raise ValueError("root fails")

    @strawberry.field
    async def fails_later(self) -> str | None:
        await asyncio.sleep(0)
        raise ValueError("root fails later")


SCHEMA = strawberry.Schema(query=Query, types=[Item, Other], execution_context_class=EngineExecutor)


@dataclass
class _Context:
    settings: Settings = field(default_factory=Settings)


async def _answer(document: str, variables: dict[str, Any] | None, **settings: Any) -> str:
    context = _Context(Settings(**settings))
    result = await SCHEMA.execute(document, variable_values=variables, context_value=context)
    errors = [error.formatted for error in result.errors or ()]
    return json.dumps({"data": result.data, "errors": errors})


DOCUMENTS = [
    "{ items { name size color maybe tags __typename } }",
    "{ items { children { name children { name tags } } } }",  # nulls in lists
    "{ items { name nulls badItems } }",  # a non-null item is null: the list is
    "{ items { name broken maybe } }",  # an error in a synchronous resolver, per object
    "{ items { name brokenLater slow } }",  # in a coroutine, per object
    "{ items { name must } }",  # non-null field null: up to the list item, up to the list
    "{ items { children { name must } } }",  # stops at a nullable list item
    "{ items { children { name mustLater } slow } }",
    "{ item { strictChild { strictChild { strictChild { name } } } } }",  # up to the root field
    "{ item { name child { name child { name child { name } } } } }",
    "{ strictItems { name } items { name } }",
    "{ halfBuilt { size tags name } }",  # an attribute that cannot be read: that field's error
    "{ items { name tooBig broken } }",  # leaf coercion errors, in depth-first order
    "{ fails items { name } }",  # a root field's error: data is null
    "{ failsLater items { name broken } }",
    '{ items { a: greet b: greet(name: "b") c: greet(name: "c", times: 2) } }',
    "{ named { __typename name ... on Item { size } ... on Other { note } } }",
    "{ items { ...F children { ...F } } } fragment F on Item { name color }",
    "{ items { ... on Named { name } ... on Item { size name } } }",
    "{ items { name broken must } items2: items { name brokenLater } }",
    "query ($s: Boolean!, $i: Boolean!) { items { name @skip(if: $s) size @include(if: $i) } }",
    "query ($n: String!, $t: Int) { items { greet(name: $n, times: $t) } item(name: $n) { name } }",
    "{ __typename items { __typename children { __typename } } }",
]
VARIABLES = [
    {"s": True, "i": False},
    {"s": False, "i": True},
    {"n": "x", "t": 3},
    {"n": "y"},
]


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_the_engine_answers_as_graphql_core(document: str) -> None:
    for variables in VARIABLES if "$" in document else [None]:
        engine = await _answer(document, variables, graphql_engine_differential=True)
        graphql_core = await _answer(document, variables, graphql_engine=False)
        assert engine == graphql_core
    assert not differential.MISMATCHES


async def test_the_engine_completes_objects_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not graphql-core's completion under another name: with it broken, answers stay right."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("graphql-core completed an object")

    expected = await _answer(DOCUMENTS[1], None, graphql_engine=False)
    monkeypatch.setattr(Executor, "complete_object_value", broken)
    assert await _answer(DOCUMENTS[1], None) == expected


async def test_a_difference_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte: the same data with its keys in another order is a difference."""
    from engine.plan import SelectionPlan

    collect = SelectionPlan.collect.__func__  # type: ignore[attr-defined]

    def reversed_fields(cls: type[SelectionPlan], *args: Any) -> SelectionPlan:
        plan = collect(cls, *args)
        return SelectionPlan(plan.type, plan.fields[::-1])

    monkeypatch.setattr(SelectionPlan, "collect", classmethod(reversed_fields))
    result = await SCHEMA.execute(
        "{ items { name size } }",
        context_value=_Context(Settings(graphql_engine_differential=True)),
    )
    [error] = result.errors or []
    assert isinstance(error.original_error, differential.EngineMismatch)
    [report] = differential.MISMATCHES  # what fails the test (tests/conftest.py)
    assert '"size": 1, "name": "a"' in report and '"name": "a", "size": 1' in report
    differential.MISMATCHES.clear()


# -- the served schema, over HTTP ---------------------------------------------------------


def _fallbacks(reason: str) -> float:
    return float(ENGINE_FALLBACKS.labels(reason)._value.get())


async def test_introspection_falls_back_and_is_counted(client: httpx.AsyncClient) -> None:
    before = _fallbacks("introspection")
    data = await ok(client, '{ __schema { queryType { name } } __type(name: "Tweet") { name } }')
    assert data == {"__schema": {"queryType": {"name": "Query"}}, "__type": {"name": "Tweet"}}
    assert _fallbacks("introspection") == before + 2
    metrics = (await client.get("/metrics")).text
    assert 'graphql_engine_fallbacks_total{reason="introspection"}' in metrics


TWEET = "mutation($t: String!) { createTweet(input: {text: $t}) { id } }"
NODES = """
query($tweet: ID!, $user: ID!, $withText: Boolean!, $noHandle: Boolean!) {
  __typename
  t: node(id: $tweet) { __typename id ...Shown ... on Tweet { text @include(if: $withText) } }
  u: node(id: $user) { __typename ...Shown ... on User { handle @skip(if: $noHandle) } }
  gone: node(id: "VHdlZXQ6MQ==") { id }
}
fragment Shown on Node { id ... on Tweet { author { __typename handle } likeCount } }
"""


async def test_fragments_on_interfaces_skip_include_and_typename(
    client: httpx.AsyncClient,
) -> None:
    author = await register(client)
    tweet = (await ok(client, TWEET, {"t": "hello #engine"}, token=author.token))["createTweet"]
    for with_text, no_handle in [(True, False), (False, True), (True, True)]:
        variables = {"tweet": tweet["id"], "user": author.id}
        variables |= {"withText": with_text, "noHandle": no_handle}
        data = await ok(client, NODES, variables, token=author.token)
        shown = {"__typename": "Tweet", "id": tweet["id"]}
        shown |= {"author": {"__typename": "User", "handle": author.handle}, "likeCount": 0}
        assert data["t"] == shown | ({"text": "hello #engine"} if with_text else {})
        user = {"__typename": "User", "id": author.id}
        assert data["u"] == user | ({} if no_handle else {"handle": author.handle})
        assert data["__typename"] == "Query" and data["gone"] is None


async def test_aliases_of_one_field_with_different_arguments(client: httpx.AsyncClient) -> None:
    first, second = await register(client), await register(client)
    query = """query($a: String!, $b: String!) {
      a: user(handle: $a) { handle n: tweets(first: 1) { edges { cursor } } }
      b: user(handle: $b) { handle n: tweets(first: 2) { pageInfo { hasNextPage } } }
      c: user(handle: "nobody-here") { handle }
    }"""
    data = await ok(client, query, {"a": first.handle, "b": second.handle})
    assert data["a"] == {"handle": first.handle, "n": {"edges": []}}
    assert data["b"] == {"handle": second.handle, "n": {"pageInfo": {"hasNextPage": False}}}
    assert data["c"] is None


async def test_errors_in_nested_resolvers_over_http(client: httpx.AsyncClient) -> None:
    account = await register(client)
    query = (
        """{ viewer { handle tweets(first: 1000) { edges { cursor } } } tweet(id: "x") { id } }"""
    )
    body = await gql(client, query, token=account.token)
    assert body["data"] == {"viewer": None, "tweet": None}
    # the order is graphql-core's: the differential check inside compared it
    assert sorted(error["path"] for error in body["errors"]) == [["tweet"], ["viewer", "tweets"]]
