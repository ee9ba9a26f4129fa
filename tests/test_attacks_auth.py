"""Attacks on sign-in from outside (issue 15): a burst of concurrent logins against the failed-login
limit, and handles that only look valid (a final newline)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any
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
BURST = 60 * int(os.environ.get("ATTACK_SCALE", "1"))  # README, "Attacks": longer runs
USER = "query($handle: String!) { user(handle: $handle) { handle } }"


async def _graphql_login(client: httpx.AsyncClient, handle: str, password: str) -> str:
    """OK, or the code of the error."""
    body = await gql(client, LOGIN, {"input": {"handle": handle, "password": password}})
    return "OK" if "errors" not in body else str(body["errors"][0]["extensions"]["code"])


async def _rest_login(client: httpx.AsyncClient, handle: str, password: str) -> str:
    response = await client.post(f"{API}/login", json={"handle": handle, "password": password})
    return "OK" if response.is_success else str(response.json()["error"]["code"])


async def test_sixty_concurrent_logins_verify_at_most_ten_failures(
    client: httpx.AsyncClient,
) -> None:
    victim = await register(client, unique_handle("Race"), password="right password")
    guesses = [_graphql_login(client, victim.handle, f"guess {n}") for n in range(BURST - 1)]
    attempts: list[Any] = [*guesses, _graphql_login(client, victim.handle, "right password")]
    outcomes = await asyncio.gather(*attempts)
    wrong = Counter(outcomes[:-1])
    assert wrong["UNAUTHENTICATED"] <= 10, wrong  # each one a password verified
    assert wrong["UNAUTHENTICATED"] + wrong["RATE_LIMITED"] == BURST - 1, wrong
    # the right password passed only if it came before the tenth failure, and then gave its
    # unit back: never more than the limit of failures either way
    assert outcomes[-1] in ("OK", "RATE_LIMITED")


async def test_the_right_password_after_a_concurrent_burst_is_refused(
    client: httpx.AsyncClient,
) -> None:
    victim = await register(client, unique_handle("Burst"), password="right password")
    outcomes = Counter(
        await asyncio.gather(
            *(_graphql_login(client, victim.handle, "wrong") for _ in range(BURST - 1))
        )
    )
    assert outcomes == {"UNAUTHENTICATED": 10, "RATE_LIMITED": BURST - 11}, outcomes
    assert await _graphql_login(client, victim.handle, "right password") == "RATE_LIMITED"
    assert await _rest_login(client, victim.handle, "right password") == "RATE_LIMITED"


async def test_rest_and_graphql_logins_share_one_limit_under_concurrency(
    client: httpx.AsyncClient,
) -> None:
    victim = await register(client, unique_handle("Both"), password="right password")
    logins = [_rest_login, _graphql_login] * 15
    outcomes = Counter(
        await asyncio.gather(*(login(client, victim.handle, "wrong") for login in logins))
    )
    assert outcomes == {"UNAUTHENTICATED": 10, "RATE_LIMITED": 20}, outcomes
    assert await _rest_login(client, victim.handle, "right password") == "RATE_LIMITED"
    assert await _graphql_login(client, victim.handle.upper(), "right password") == "RATE_LIMITED"


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
