"""Hostile strings in every argument: a contract error or a result, never an internal error."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.graphql import register

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff tail",
    "x" * 5000,
    "'; DROP TABLE users; --",
    "🙂" * 300,
    "\u202e\u200b",
    "%00",
    "null",
]
OPERATIONS = [
    ("query($s: String!) { user(handle: $s) { id } }", {}),
    ("query($s: ID!) { tweet(id: $s) { id } }", {}),
    ("query($s: ID!) { node(id: $s) { id } }", {}),
    ("query($s: String) { homeTimeline(after: $s) { edges { cursor } } }", {}),
    ("mutation($s: String!) { register(input: {handle: $s, password: $s}) { token } }", {}),
    ("mutation($s: String!) { login(input: {handle: $s, password: $s}) { token } }", {}),
    ('mutation($s: String!) { login(input: {handle: "someone", password: $s}) { token } }', {}),
    ("mutation($s: String!) { createTweet(input: {text: $s}) { id } }", {}),
    ('mutation($s: ID!) { createTweet(input: {text: "hi", replyToId: $s}) { id } }', {}),
    ("mutation($s: String!) { updateProfile(input: {displayName: $s, bio: $s}) { id } }", {}),
    ("mutation($s: ID!) { likeTweet(id: $s) { id } }", {}),
    ("mutation($s: ID!) { follow(userId: $s) { id } }", {}),
    ("mutation($s: ID!) { deleteTweet(id: $s) }", {}),
    ("mutation($s: ID!) { editTweet(input: {id: $s, text: $s}) { id } }", {}),
]


@pytest.mark.parametrize("query", [op for op, _ in OPERATIONS])
async def test_hostile_strings_never_break_the_server(
    client: httpx.AsyncClient, query: str
) -> None:
    account = await register(client)
    headers = {"content-type": "application/json", "authorization": f"Bearer {account.token}"}
    for value in HOSTILE:
        body = json.dumps({"query": query, "variables": {"s": value}})  # \\ud800 stays escaped
        response = await client.post("/graphql", content=body, headers=headers)
        # a lone surrogate cannot be encoded: the JSON parser refuses it, as for REST bodies
        lone_surrogate = any("\ud800" <= char <= "\udfff" for char in value)
        assert response.status_code == (400 if lone_surrogate else 200), (value, response.text)
        for error in response.json().get("errors", []):
            assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", (value, error)


def test_the_executions_own_errors_are_internal_and_masked() -> None:
    from graphql import GraphQLError

    from core.errors import format_error

    null = GraphQLError("Cannot return null for non-nullable field Tweet.text.", path=["tweet"])
    assert format_error(null) == {
        "message": "Internal server error.",
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        "path": ["tweet"],
    }
    coded = GraphQLError("Sign in first.", path=["viewer"], extensions={"code": "UNAUTHENTICATED"})
    assert format_error(coded)["extensions"]["code"] == "UNAUTHENTICATED"  # already formatted
    unknown = GraphQLError("Cannot query field 'nope' on type 'Query'.")
    assert format_error(unknown)["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
