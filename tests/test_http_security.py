"""HTTP hygiene: CORS from the allow-list, security headers, HSTS over HTTPS only, and bodies
refused before they are read in full."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from starlette.applications import Starlette

from app import create_app
from core.config import Settings
from tests.rest import API, post, register
from web.headers import HSTS, NOTHING_ALLOWED

ALLOWED, OTHER = "https://app.example", "https://evil.example"
PUBLIC = ("https://chirp.example", "https://api.chirp.example")
QUERY = {"query": "{ __typename }"}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


@pytest.fixture(scope="module")
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(replace(settings, cors_origins=(ALLOWED, "http://localhost:3000")))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_no_cors_headers_without_an_allow_list(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=QUERY, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options("/graphql", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert "access-control-allow-origin" not in preflight.headers


async def test_an_allowed_origin_may_read_responses(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.post("/graphql", json=QUERY, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers  # bearer tokens, no cookies


async def test_another_origin_gets_no_cors_headers(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.post("/graphql", json=QUERY, headers={"Origin": OTHER})
    assert response.status_code == 200  # served, but a browser will not let that page read it
    assert "access-control-allow-origin" not in response.headers
    preflight = await cors_client.options("/graphql", headers={"Origin": OTHER, **PREFLIGHT})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("path", ["/graphql", "/api/v1/users/someone"])
async def test_preflight_for_an_allowed_origin(cors_client: httpx.AsyncClient, path: str) -> None:
    response = await cors_client.options(path, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert response.headers["x-content-type-options"] == "nosniff"


def _assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    responses = [
        await client.post("/graphql", json=QUERY),
        await client.post("/graphql", content=b"[]", headers={"content-type": "application/json"}),
        await client.get("/graphql", params={"query": "{ nope }"}),
        await client.get("/healthz"),
        await client.get("/metrics"),
        await client.get("/no-such-page"),
    ]
    for response in responses:
        _assert_security_headers(response)
        assert response.headers["content-security-policy"] == NOTHING_ALLOWED
        assert "strict-transport-security" not in response.headers  # plain HTTP


async def test_pages_keep_their_own_policy(client: httpx.AsyncClient) -> None:
    for path in ("/graphql", "/stats"):
        response = await client.get(path, headers={"accept": "text/html"})
        assert response.headers["content-type"].startswith("text/html"), path
        _assert_security_headers(response)
        assert "script-src 'self'" in response.headers["content-security-policy"], path


async def test_hsts_over_https_only(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        response = await https.post("/graphql", json=QUERY)
    assert response.headers["strict-transport-security"] == HSTS
    _assert_security_headers(response)


async def test_a_chunked_body_over_one_mebibyte_is_413(live_server: str) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ __typename }", "pad": "'
        for _ in range(20):  # 1.25 MiB, with no Content-Length
            sent += 1
            yield b"x" * 65536

    async with httpx.AsyncClient(base_url=live_server) as http:
        request = http.build_request(
            "POST", "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        response = await http.send(request)
    assert response.status_code == 413
    assert response.json()["errors"][0]["message"]
    _assert_security_headers(response)


@pytest.mark.parametrize(
    "body", [b"null", b"1", b'"{ __typename }"', b"[{}]", b"{", b'{"query": "{ x }"', b""]
)
async def test_bodies_that_are_not_json_objects_are_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, body
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_sent_as_json_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = b'{"query": "{ __typename }"}'
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture(scope="module")
async def public_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(replace(settings, public_url=PUBLIC))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC[1]) as http:
            yield http


async def _next_link(client: httpx.AsyncClient, host: str | None = None) -> str:
    """The Link header of a first page of two, asked for with that Host header."""
    writer = await register(client)
    for text in ("one", "two"):
        await post(client, writer, text)
    headers = {"host": host} if host else {}
    response = await client.get(f"{API}/users/{writer.handle}/tweets?limit=1", headers=headers)
    assert response.status_code == 200
    link: str = response.headers["link"]
    assert link.endswith('>; rel="next"') and "/api/v1/users/" in link
    return link


async def test_links_never_take_the_host_header(client: httpx.AsyncClient) -> None:
    """Without PUBLIC_URL, from HOST and PORT: a forged Host header goes nowhere."""
    assert (await _next_link(client, "evil.example")).startswith("<http://127.0.0.1:8000/api/v1/")


async def test_links_take_the_public_origin_asked_for(public_client: httpx.AsyncClient) -> None:
    assert (await _next_link(public_client)).startswith(f"<{PUBLIC[1]}/api/v1/")
    link = await _next_link(public_client, "evil.example")
    assert link.startswith(f"<{PUBLIC[0]}/api/v1/")
