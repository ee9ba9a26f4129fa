"""Query limits (CONTRACT.md): depth, aliases, tokens and cost, refused before anything runs."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from graphql import get_introspection_query

from app import create_app
from core.config import Settings
from core.db import Database
from tests.graphql import gql, post, register
from tests.test_sql_cost import counted
from tests.ws import Socket

COST = """
query($a: Int, $b: Int, $c: Int, $d: Int) {
  homeTimeline(first: $a) { edges { node {
    replies(first: $b) { edges { node { replies(first: $c) { edges { cursor } } } } }
  } } }
  searchUsers(query: "zz", first: $d) { edges { cursor } }
}
"""  # 1 + a * (3 + b * (3 + c)) + 1 + d


def refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    """The QUERY_TOO_COMPLEX error of a response, if any."""
    errors = [e for e in body.get("errors", []) if e["extensions"]["code"] == "QUERY_TOO_COMPLEX"]
    return errors[0] if errors else None


def nested_replies(depth: int) -> str:
    """A query `depth` fields deep: tweet, replyTo ... replyTo, id."""
    inner = "replyTo { " * (depth - 2) + "id" + " }" * (depth - 2)
    return "query($id: ID!) { tweet(id: $id) { " + inner + " } }"


def operations(tokens: int) -> str:
    """A document of exactly `tokens` tokens (a multiple of 5, or one more), run as q0."""
    extra = " __typename" if tokens % 5 else ""
    return " ".join(
        f"query q{n} {{ __typename{extra if n == 0 else ''} }}" for n in range(tokens // 5)
    )


@asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, **changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_depth_at_the_limit_runs_one_over_is_refused(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet = await post(client, author, "deep")
    at = await gql(client, nested_replies(12), {"id": tweet})
    assert "errors" not in at, at
    assert at["data"]["tweet"]["replyTo"] is None
    over = refusal(await gql(client, nested_replies(13), {"id": tweet}))
    assert over is not None
    assert over["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "depth",
        "value": 13,
        "maximum": 12,
    }
    assert "13" in over["message"] and "12" in over["message"]


async def test_aliases_at_the_limit_run_one_over_is_refused(client: httpx.AsyncClient) -> None:
    def aliased(count: int) -> str:
        return "{ " + " ".join(f"a{n}: __typename" for n in range(count)) + " }"

    at = await gql(client, aliased(30))
    assert at["data"]["a29"] == "Query"
    over = refusal(await gql(client, aliased(31)))
    assert over is not None and over["extensions"]["limit"] == "aliases"
    assert over["extensions"]["value"] == 31


async def test_tokens_at_the_limit_run_one_over_is_refused(client: httpx.AsyncClient) -> None:
    at = await client.post("/graphql", json={"query": operations(2000), "operationName": "q0"})
    assert at.json() == {
        "data": {"__typename": "Query"},
        "extensions": {"cost": {"estimated": 0, "actual": 0}},
    }
    over = await client.post("/graphql", json={"query": operations(2001), "operationName": "q0"})
    error = refusal(over.json())
    assert error is not None and error["extensions"]["limit"] == "tokens"
    assert "more than 2000" in error["message"]
    assert "data" not in over.json()


async def test_cost_at_the_limit_runs_one_over_is_refused(client: httpx.AsyncClient) -> None:
    viewer = await register(client)
    limit = {"a": 100, "b": 62, "c": 5, "d": 98}  # 2 + 300 + 18,600 + 31,000 + 98 = 50,000
    at = await gql(client, COST, limit, token=viewer.token)
    assert "errors" not in at, at
    assert at["extensions"]["cost"]["estimated"] == 50_000
    over = refusal(await gql(client, COST, {**limit, "d": 99}, token=viewer.token))
    assert over is not None
    assert over["extensions"]["limit"] == "cost" and over["extensions"]["value"] == 50_001
    assert "50001" in over["message"] and "50000" in over["message"]


async def test_nested_connections_multiply_and_defaults_count(client: httpx.AsyncClient) -> None:
    viewer = await register(client)
    two = """{ homeTimeline(first: 100) { edges { node {
        replies(first: 100) { edges { node { id } } } } } } }"""
    body = await gql(client, two, token=viewer.token)
    assert body["extensions"]["cost"]["estimated"] == 1 + 100 * (3 + 100 * 2)
    three = """{ homeTimeline(first: 100) { edges { node { replies(first: 100) { edges { node {
        replies(first: 100) { edges { cursor } } } } } } } } }"""
    error = refusal(await gql(client, three, token=viewer.token))
    assert error is not None and error["extensions"]["value"] == 1 + 100 * (3 + 100 * (3 + 100))
    default = await gql(client, "{ homeTimeline { edges { cursor } } }", token=viewer.token)
    assert default["extensions"]["cost"]["estimated"] == 1 + 20  # the resolver's page size
    first = "query($n: Int = 7) { homeTimeline(first: $n) { edges { cursor } } }"
    assert (await gql(client, first, token=viewer.token))["extensions"]["cost"]["estimated"] == 8


async def test_extensions_report_estimated_and_actual_cost(client: httpx.AsyncClient) -> None:
    viewer = await register(client)
    for text in ("one", "two"):
        await post(client, viewer, text)
    query = """{ homeTimeline(first: 5) {
        edges { node { id author { handle } } } pageInfo { hasNextPage } } }"""
    body = await gql(client, query, token=viewer.token)
    assert len(body["data"]["homeTimeline"]["edges"]) == 2
    # estimated: 1 + 5 * (edge + node + author + pageInfo); actual: the objects returned
    assert body["extensions"] == {"cost": {"estimated": 21, "actual": 1 + 2 * 3 + 1}}


async def test_a_hostile_mebibyte_is_refused_before_parsing(client: httpx.AsyncClient) -> None:
    nested = "{a" * 500_000
    flat = "{" + " a" * 500_000 + "}"
    for document, limit in ((nested, "nesting"), (flat, "tokens")):
        response = await client.post("/graphql", json={"query": document})
        error = refusal(response.json())
        assert error is not None and error["extensions"]["limit"] == limit


async def test_a_refused_query_runs_no_sql(client: httpx.AsyncClient, db: Database) -> None:
    viewer = await register(client)
    tweet = await post(client, viewer, "not to be read")
    query = nested_replies(13).replace("{ tweet", "{ viewer { handle } tweet", 1)
    with counted(db) as statements:
        body = await gql(client, query, {"id": tweet}, token=viewer.token)
    assert refusal(body) is not None
    assert statements == []


async def test_limits_apply_to_cached_documents_and_are_configurable(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    query = "{ viewer { followers(first: 3) { edges { node { handle } } } } }"
    assert refusal(await gql(client, query)) is None  # parsed and cached here
    async with serving(settings, query_max_depth=4, query_max_cost=100) as strict:
        error = refusal(await gql(strict, query))
        assert error is not None and error["extensions"]["maximum"] == 4
        assert "QUERY_MAX_DEPTH" in error["message"]
    async with serving(settings, query_max_tokens=10) as terse:  # a text passed by the above
        error = refusal(await gql(terse, query))
        assert error is not None and error["extensions"]["limit"] == "tokens"
    assert refusal(await gql(client, query)) is None


async def test_graphiql_introspection_query_passes(client: httpx.AsyncClient) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )  # graphql-js's, as GraphiQL sends it; its TypeRef nests ofType 9 levels
    response = await client.post(
        "/graphql", json={"query": query, "operationName": "IntrospectionQuery"}
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert body["extensions"] == {"cost": {"estimated": 0, "actual": 0}}


async def test_introspection_can_be_switched_off(settings: Settings) -> None:
    async with serving(settings, introspection=False) as http:
        body = await gql(http, "{ __schema { queryType { name } } }")
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "data" not in body
        assert (await gql(http, "{ __typename }"))["data"] == {"__typename": "Query"}


async def test_graphiql_can_be_switched_off(client: httpx.AsyncClient, settings: Settings) -> None:
    browser = {"accept": "text/html,application/xhtml+xml"}
    page = await client.get("/graphql", headers=browser)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    async with serving(settings, graphiql=False) as http:
        page = await http.get("/graphql", headers=browser)
        assert page.status_code == 400
        assert page.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert (await http.get("/graphiql/static/chirp-graphiql.js")).status_code == 404


async def test_an_over_deep_subscription_is_refused(live_server: str) -> None:
    socket = await Socket.open(live_server)
    try:
        deep = "replyTo { " * 12 + "id" + " }" * 12
        await socket.subscribe("subscription { homeTimeline { node { " + deep + " } } }")
        payload = await socket.next()
        assert payload["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert payload["errors"][0]["extensions"]["limit"] == "depth"
        await socket.subscribe("subscription { homeTimeline { node { " + "{a" * 100 + " } } }")
        payload = await socket.next()
        assert payload["errors"][0]["extensions"]["limit"] == "nesting"
    finally:
        await socket.close()
