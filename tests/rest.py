"""Helpers for tests that talk to the REST API (/api/v1)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.graphql import Account, unique_handle

API = "/api/v1"


def bearer(account: Account | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"} if account else {}


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    account: Account | None = None,
    **kwargs: Any,
) -> httpx.Response:
    return await client.request(method, API + path, headers=bearer(account), **kwargs)


async def ok(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    account: Account | None = None,
    **kwargs: Any,
) -> Any:
    """The JSON body of a call that must succeed (None for 204)."""
    response = await call(client, method, path, account, **kwargs)
    assert response.is_success, (response.status_code, response.text)
    return response.json() if response.status_code != 204 else None


async def failure(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    account: Account | None = None,
    **kwargs: Any,
) -> tuple[int, str]:
    """(status, error code) of a call that must fail with the contract's error body."""
    response = await call(client, method, path, account, **kwargs)
    assert not response.is_success, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message"}, error
    return response.status_code, error["code"]


async def register(client: httpx.AsyncClient, handle: str | None = None) -> Account:
    body = {"handle": handle or unique_handle("r"), "password": "correct horse"}
    payload = await ok(client, "POST", "/register", json=body)
    return Account(
        id=payload["user"]["id"], handle=payload["user"]["handle"], token=payload["token"]
    )


async def post(client: httpx.AsyncClient, account: Account, text: str, **extra: Any) -> str:
    tweet = await ok(client, "POST", "/tweets", account, json={"text": text, **extra})
    tweet_id: str = tweet["id"]
    return tweet_id
