"""GraphQL over HTTP: status codes, media types, error codes, body limits, health."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from starlette.applications import Starlette

from core.ids import parse_global_id
from services import cache
from tests.graphql import gql, post, register

GRAPHQL_RESPONSE = "application/graphql-response+json"


async def test_get_runs_queries(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_get_refuses_mutations(client: httpx.AsyncClient) -> None:
    query = 'mutation { login(input: {handle: "a", password: "b"}) { token } }'
    response = await client.get(
        "/graphql", params={"query": query}, headers={"accept": "application/json"}
    )
    assert response.status_code == 405


async def test_parse_and_validation_errors_with_json(client: httpx.AsyncClient) -> None:
    parse = await client.post("/graphql", json={"query": "{ viewer {"})
    assert parse.status_code == 200
    assert parse.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    invalid = await client.post("/graphql", json={"query": "{ nope }"})
    assert invalid.status_code == 200
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in invalid.json()


async def test_request_errors_are_400_with_graphql_response_json(client: httpx.AsyncClient) -> None:
    headers = {"accept": GRAPHQL_RESPONSE}
    parse = await client.post("/graphql", json={"query": "{"}, headers=headers)
    assert parse.status_code == 400
    assert parse.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in parse.json()
    query = "query($n: Int!) { homeTimeline(first: $n) { edges { cursor } } }"
    variables = await client.post(
        "/graphql", json={"query": query, "variables": {"n": "x"}}, headers=headers
    )
    assert variables.status_code == 400
    assert variables.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    ok = await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)


async def test_bad_bodies_are_400(client: httpx.AsyncClient) -> None:
    json_type = {"content-type": "application/json"}
    for body in [
        b"not json",
        b"[1, 2]",
        b'"query"',
        b"{}",
        b'{"query": 1}',
        b'{"query": "{ __typename }", "variables": []}',
        b"\xff\xfe",
    ]:
        response = await client.post("/graphql", content=body, headers=json_type)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["message"]


async def test_an_operation_name_naming_no_operation_is_bad_user_input(
    client: httpx.AsyncClient,
) -> None:
    body = {"query": "query A { __typename }", "operationName": "X"}
    for accept, status in (("application/json", 200), (GRAPHQL_RESPONSE, 400)):
        response = await client.post("/graphql", json=body, headers={"accept": accept})
        assert response.status_code == status, accept
        assert "data" not in response.json()
        [error] = response.json()["errors"]
        assert error == {
            "message": 'Unknown operation named "X".',
            "extensions": {"code": "BAD_USER_INPUT"},
        }


async def test_deeply_nested_json_is_400(client: httpx.AsyncClient) -> None:
    """json.loads raised RecursionError on these (an HTTP 500 in text/plain)."""
    deep = "[" * 50_000 + "]" * 50_000
    json_type = {"content-type": "application/json"}
    for body in [
        deep,
        '{"query": "{ __typename }", "variables": {"a": ' + deep + "}}",
        '{"query": "{ __typename }", "extensions": {"a": ' + deep + "}}",
    ]:
        response = await client.post("/graphql", content=body, headers=json_type)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    deep = "[" * 5000 + "]" * 5000  # in a URL
    for name in ("variables", "extensions"):
        params = {"query": "{ __typename }", name: '{"a": ' + deep + "}"}
        response = await client.get("/graphql", params=params)
        assert response.status_code == 400, name
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_wrong_content_type_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{ __typename }", headers={"content-type": "text/plain"}
    )
    assert 400 <= response.status_code < 500


async def test_bodies_over_one_mebibyte_are_413(client: httpx.AsyncClient) -> None:
    big = b'{"query": "{ __typename }", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/graphql", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_unexpected_errors_are_masked(
    client: httpx.AsyncClient, app: object, monkeypatch: object
) -> None:
    from services import accounts

    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(accounts, "user_by_handle", explode)  # type: ignore[attr-defined]
    handle = uuid.uuid4().hex[:15]  # not one that failed ten times already (test_hostile_input)
    query = (
        f'mutation {{ login(input: {{handle: "{handle}", password: "whatever1"}}) {{ token }} }}'
    )
    response = await client.post("/graphql", json={"query": query})
    body = response.json()
    assert response.status_code == 200
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"]


async def test_an_error_outside_execution_is_a_bare_500(
    client: httpx.AsyncClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/graphql skips Starlette's router (app.py): its 500 page stays, outermost as in
    Starlette's own stack; other methods still take the router's way (405)."""
    from web import graphql_http

    async def explode(request: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(graphql_http, "graphql_endpoint", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for response in (
            await http.post("/graphql", json={"query": "{ __typename }"}),
            await http.get("/graphql", params={"query": "{ __typename }"}),
        ):
            assert response.status_code == 500
            assert response.text == "Internal Server Error"  # Starlette's page, nothing else
    monkeypatch.undo()
    assert (await client.put("/graphql", json={"query": "{ __typename }"})).status_code == 405


async def test_an_answer_nulled_by_an_error_gives_back_every_connection(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    """Signed out, homeTimeline (non-null) fails and nulls `data` while the loaders' batches
    for the users and tweets beside it are still pending: they run after the answer, and must
    give their database connections back (found by tests/test_fuzz.py)."""
    author = await register(client)
    tweet = await post(client, author, "read after the answer")
    pool = app.state.db.engine.pool
    before = pool.checkedout()
    query = """query($u: ID!, $t: ID!) {
      a: node(id: $u) { ... on User { followerCount } }
      b: node(id: $t) { ... on Tweet { likeCount author { handle } } }
      homeTimeline { edges { cursor } }
    }"""
    for _ in range(3):
        cold = [
            cache.key(kind, parse_global_id(gid)[1])
            for kind, gid in ((cache.USER, author.id), (cache.TWEET, tweet))
        ]
        await app.state.redis.delete(*cold)
        body = await gql(client, query, {"u": author.id, "t": tweet})
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for _ in range(100):
        if pool.checkedout() <= before:
            break
        await asyncio.sleep(0.01)
    assert pool.checkedout() <= before  # another test's may have gone back meanwhile


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "http_requests_total" in metrics.text


async def test_every_schema_element_is_described() -> None:
    from graphql import GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

    from schema.build import schema

    missing = []
    for name, gtype in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Boolean", "ID", "Float"}:
            continue
        if not gtype.description:
            missing.append(name)
        if isinstance(gtype, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in gtype.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
    assert missing == []


async def test_readyz_names_the_failing_backend(settings: object) -> None:
    from dataclasses import replace

    from app import create_app

    broken = replace(settings, redis_url="redis://127.0.0.1:1/0", worker_id=9)  # type: ignore[type-var]
    app = create_app(broken)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            ready = await http.get("/readyz")
            assert (await http.get("/healthz")).status_code == 200
    assert ready.status_code == 503
    assert list(ready.json()["failing"]) == ["redis"]


async def test_readyz_names_meilisearch_when_it_does_not_answer(settings: object) -> None:
    from dataclasses import replace

    from app import create_app

    unreachable = replace(settings, search_url="http://127.0.0.1:1", worker_id=9)  # type: ignore[type-var]
    app = create_app(unreachable)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert list(ready.json()["failing"]) == ["search"]
