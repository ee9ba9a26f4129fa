"""Attacks on sign-in from outside (issue 15): a burst of concurrent logins against the failed-login
limit, and handles that only look valid (a final newline)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from starlette.requests import Request

from core.errors import BadUserInput
from core.text import check_handle, is_handle
from schema import operation_metrics
from tests.graphql import REGISTER, error_code, gql, ok, register, unique_handle
from tests.rest import API
from web.context import request_id

LOGIN = "mutation($input: LoginInput!) { login(input: $input) { token } }"
USER = "query($handle: String!) { user(handle: $handle) { handle } }"


async def _graphql_login(client: httpx.AsyncClient, handle: str, password: str) -> str:
    """OK, or the code of the error."""
    body = await gql(client, LOGIN, {"input": {"handle": handle, "password": password}})
    return "OK" if "errors" not in body else str(body["errors"][0]["extensions"]["code"])


async def test_a_handle_with_a_final_newline_is_not_a_handle(client: httpx.AsyncClient) -> None:
    victim = await register(client, unique_handle("Nl"))
    for handle in (f"{victim.handle}\n", "a" * 15 + "\n", f"{victim.handle}\r\n"):
        variables = {"input": {"handle": handle, "password": "correct horse"}}
        assert await error_code(client, REGISTER, variables) == "BAD_USER_INPUT", repr(handle)
        body = {"handle": handle, "password": "correct horse"}
        response = await client.post(f"{API}/register", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "BAD_USER_INPUT"
        assert (await ok(client, USER, {"handle": handle}))["user"] is None
        assert (await client.get(f"{API}/users/{quote(handle)}")).status_code == 404
        assert await _graphql_login(client, handle, "correct horse") == "UNAUTHENTICATED"
    assert (await ok(client, USER, {"handle": victim.handle}))["user"] == {"handle": victim.handle}


def test_no_pattern_that_checks_input_lets_a_final_newline_through() -> None:
    assert is_handle("victim") and not is_handle("victim\n")
    with pytest.raises(BadUserInput):
        check_handle("victim\n")
    headers = [(b"x-request-id", b"probe-42\n")]
    assert request_id(Request({"type": "http", "headers": headers})) != "probe-42\n"
    assert operation_metrics._label("Flood\n") == "other"
