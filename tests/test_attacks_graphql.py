"""Attacks on the GraphQL layer before execution (issue 15): costed as execution will run it."""

from __future__ import annotations

import httpx

from tests.graphql import gql, register
from tests.test_query_limits import refusal

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
