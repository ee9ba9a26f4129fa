"""Attacks on the GraphQL layer before execution (issue 15): measured in time linear in the
document, costed as execution will run it, and telling nothing introspection would not."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import httpx
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    execute_subscription_event,
    get_operation_ast,
    get_variable_values,
    parse,
)

from core.config import Settings
from schema.build import schema
from schema.query_measure import operation_size
from schema.shared_events import SharedEventExecutor
from tests.graphql import gql, register
from tests.test_query_limits import refusal, serving
from tests.test_rate_limits import limited_server
from tests.ws import Socket


def fragment_bomb(n: int, leaf: str = "__typename", on: str = "Query") -> str:
    """n fragments, each spreading the next twice: 2^n spreads for a walk that follows each."""
    spreads = " ".join(f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    return f"{spreads} fragment F{n} on {on} {{ {leaf} }}"


def counting(document: DocumentNode) -> tuple[DocumentNode, list[int]]:
    """`document` with each fragment's selections counting how often a walk reads them."""
    reads = [0]

    class Counted(tuple[Any, ...]):
        def __iter__(self) -> Any:
            reads[0] += 1
            return super().__iter__()

    def counted(definition: Any) -> Any:
        if not isinstance(definition, FragmentDefinitionNode):
            return definition
        selections = Counted(definition.selection_set.selections)
        inner = dataclasses.replace(definition.selection_set, selections=selections)
        return dataclasses.replace(definition, selection_set=inner)

    definitions = tuple(counted(definition) for definition in document.definitions)
    return dataclasses.replace(document, definitions=definitions), reads


def test_the_measures_read_each_fragment_a_few_times_however_often_it_is_spread() -> None:
    for n in (8, 16):
        leaf = "viewer { id } __schema { queryType { name } }"
        document, reads = counting(parse("{ ...F0 } " + fragment_bomb(n, leaf)))
        operation = get_operation_ast(document)
        assert operation is not None
        variables = get_variable_values(schema._schema, (), {})
        assert not isinstance(variables, list)
        size = operation_size(schema._schema, document, operation, variables)
        assert size.cost == 2**n and size.introspection_keys == {"__schema"}
        assert reads[0] <= 4 * (n + 1), (n, reads[0])  # 2^(n+1) when each spread is followed


async def test_a_shared_subscription_event_reads_each_fragment_once() -> None:
    n = 12
    query = "subscription { homeTimeline { ...F0 } } " + fragment_bomb(n, "cursor", "TweetEdge")
    document, reads = counting(parse(query))
    executor = SharedEventExecutor.build(schema._schema, document)
    assert isinstance(executor, SharedEventExecutor)
    event = SimpleNamespace(share=("tweet", 1), cursor="c")  # an answer shared by its viewers
    result = await execute_subscription_event(executor.build_per_event_executor(event))
    assert result.data == {"homeTimeline": {"cursor": "c"}}
    assert reads[0] <= 2 * (n + 1), reads[0]  # whether it is shared, then the execution


async def test_a_fragment_bomb_answers_at_once_over_http_and_websocket(live_server: str) -> None:
    bomb = "query { ...F0 } " + fragment_bomb(25)  # ~1 KB; 2^25 spreads
    async with httpx.AsyncClient(base_url=live_server) as http:  # httpx's 5 s timeout
        response = await http.post("/graphql", json={"query": bomb})
    assert response.json()["data"] == {"__typename": "Query"}
    socket = await Socket.open(live_server)
    try:
        await socket.subscribe(bomb)
        assert (await socket.next())["data"] == {"__typename": "Query"}
    finally:
        await socket.close()


async def test_many_fields_of_one_name_are_refused_before_validation_runs_long(
    client: httpx.AsyncClient,
) -> None:
    crowd = "{ " + " ".join(["viewer { id }"] * 400) + " }"  # 2,000 tokens, 80,000 pairs
    body = await gql(client, crowd)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert body["errors"][0]["message"] == "Validation aborted."
    fragments = " ".join(
        f"fragment T{i} on Tweet {{ id text likeCount author {{ id handle }} }}" for i in range(16)
    )
    spreads = " ".join(f"...T{i}" for i in range(16))
    timeline = "{ homeTimeline { edges { node { id " + spreads + " } } } } " + fragments
    account = await register(client)
    assert "errors" not in await gql(client, timeline, token=account.token)  # a client's query


NESTED = """query($n: Int) { homeTimeline(first: $n) { edges { node {
  replies(first: $n) { edges { node { replies(first: $n) { edges { cursor } } } } } } } } }"""


async def test_first_as_a_float_costs_the_int_execution_makes_of_it(
    client: httpx.AsyncClient,
) -> None:
    viewer = await register(client)
    for n in (100, 100.0):
        error = refusal(await gql(client, NESTED, {"n": n}, token=viewer.token))
        assert error is not None and error["extensions"]["value"] == 1 + 100 * (3 + 100 * 103)
    body = await gql(client, NESTED, {"n": 7.0}, token=viewer.token)
    assert "errors" not in body, body
    assert body["extensions"]["cost"]["estimated"] == 1 + 7 * (3 + 7 * (3 + 7))
    for refused in ({"n": "100"}, {"n": 100.5}, {"n": 2**31}):
        body = await gql(client, NESTED, refused, token=viewer.token)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert "data" not in body
    literal = "{ homeTimeline(first: 100.0) { edges { cursor } } }"
    default = "query($n: Int = 100.0) { homeTimeline(first: $n) { edges { cursor } } }"
    for query in (literal, default):
        body = await gql(client, query, token=viewer.token)
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body


GUESSES = [  # a name mistyped: unknown field, argument, type, input field; variable coercion
    ("{ viewe { id } }", None),
    ('{ user(handel: "a") { id } }', None),
    ("query($h: Strin!) { user(handle: $h) { id } }", None),
    ('mutation { register(input: {handle: "a", password: "b", handel: "c"}) { token } }', None),
    (
        "mutation($i: RegisterInput!) { register(input: $i) { token } }",
        {"i": {"handle": "a", "password": "b", "passwrd": "c"}},
    ),
]


async def test_errors_suggest_names_only_with_introspection(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    for query, variables in GUESSES:
        body = await gql(client, query, variables)
        assert any("Did you mean" in e["message"] for e in body["errors"]), body
    async with serving(settings, introspection=False) as http:
        for query, variables in GUESSES:
            body = await gql(http, query, variables)
            assert body["errors"][0]["extensions"]["code"] in (
                "GRAPHQL_VALIDATION_FAILED",
                "BAD_USER_INPUT",
            )
            assert all("Did you mean" not in e["message"] for e in body["errors"]), body


async def test_errors_suggest_no_names_over_a_websocket_without_introspection(
    settings: Settings,
) -> None:
    with limited_server(settings, introspection=False) as url:
        socket = await Socket.open(url.removesuffix("/graphql"))  # Socket.open adds it
        try:
            for query, variables in GUESSES:
                await socket.subscribe(query, variables)
                payload = await socket.next()
                assert payload["errors"], payload
                assert all("Did you mean" not in e["message"] for e in payload["errors"]), payload
        finally:
            await socket.close()
