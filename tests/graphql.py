"""Helpers for tests that talk GraphQL over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Account:
    id: str
    handle: str
    token: str


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ok(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """The data of a request that must succeed."""
    body = await gql(client, query, variables, token=token)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def error_code(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> str:
    """The code of the single error a request must fail with."""
    body = await gql(client, query, variables, token=token)
    assert body.get("errors"), body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


def unique_handle(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


REGISTER = """
mutation($input: RegisterInput!) { register(input: $input) { token user { id handle } } }
"""


async def register(
    client: httpx.AsyncClient, handle: str | None = None, password: str = "correct horse"
) -> Account:
    data = await ok(
        client, REGISTER, {"input": {"handle": handle or unique_handle(), "password": password}}
    )
    payload = data["register"]
    return Account(
        id=payload["user"]["id"], handle=payload["user"]["handle"], token=payload["token"]
    )


POST = "mutation($input: CreateTweetInput!) { createTweet(input: $input) { id text } }"


async def post(
    client: httpx.AsyncClient, account: Account, text: str, reply_to: str | None = None
) -> str:
    data = await ok(
        client, POST, {"input": {"text": text, "replyToId": reply_to}}, token=account.token
    )
    tweet_id: str = data["createTweet"]["id"]
    return tweet_id
