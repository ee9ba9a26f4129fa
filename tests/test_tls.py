"""TLS_CERTFILE and TLS_KEYFILE: serve.py speaks HTTPS and WSS (certificates from a throwaway
CA), sends HSTS, and a plain HTTP request to that port fails."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import trustme

from core.config import Settings
from tests.conftest import ROOT, Backend
from tests.ports import free_port
from tests.ws import Socket
from web.headers import HSTS

HOME = "subscription { homeTimeline { node { id text } } }"
REGISTER = """
mutation($h: String!) { register(input: {handle: $h, password: "correct horse"}) { token } }
"""
POST = 'mutation { createTweet(input: {text: "over TLS"}) { id } }'


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def verified(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(scope="module")
def tls_server(
    ca: trustme.CA, backend: Backend, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """serve.py with TLS on the test database and Redis: its https:// base URL."""
    directory = tmp_path_factory.mktemp("tls")
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    certificate.private_key_pem.write_to_path(str(keyfile))
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=backend.database_url,
        REDIS_URL=backend.redis_url,
        JWT_SECRET=settings.jwt_secret or "",
        DATA_DIR=str(directory),
        PORT=str(port),
        WORKERS="0",
        WORKER_ID="7",
        TLS_CERTFILE=str(certfile),
        TLS_KEYFILE=str(keyfile),
    )
    process = subprocess.Popen(
        [sys.executable, "serve.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        _wait_ready(base, ca, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_ready(base: str, ca: trustme.CA, process: subprocess.Popen[bytes]) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", verify=context, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("serve.py with TLS did not become ready")


async def test_graphql_over_https(tls_server: str, verified: ssl.SSLContext) -> None:
    async with httpx.AsyncClient(base_url=tls_server, verify=verified) as https:
        response = await https.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}
    assert response.headers["strict-transport-security"] == HSTS
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_certificate_is_verified(tls_server: str) -> None:
    async with httpx.AsyncClient(base_url=tls_server) as untrusting:  # system CAs only
        with pytest.raises(httpx.ConnectError):
            await untrusting.get("/healthz")


async def test_plain_http_to_the_tls_port_fails(tls_server: str) -> None:
    plain = tls_server.replace("https://", "http://")
    async with httpx.AsyncClient(base_url=plain) as http:
        with pytest.raises(httpx.TransportError):
            await http.get("/healthz")


async def test_a_subscription_over_wss(tls_server: str, verified: ssl.SSLContext) -> None:
    async with httpx.AsyncClient(base_url=tls_server, verify=verified) as https:
        handle = f"tls{os.urandom(5).hex()}"
        registered = await https.post(
            "/graphql", json={"query": REGISTER, "variables": {"h": handle}}
        )
        token = registered.json()["data"]["register"]["token"]
        socket = await Socket.open(tls_server, token, ssl=verified)
        await socket.subscribe(HOME)
        await socket.silent(0.3)  # the subscription is registered
        headers = {"Authorization": f"Bearer {token}"}
        posted = await https.post("/graphql", json={"query": POST}, headers=headers)
    tweet_id = posted.json()["data"]["createTweet"]["id"]
    payload = await socket.next()
    assert payload["data"]["homeTimeline"]["node"] == {"id": tweet_id, "text": "over TLS"}
    await socket.close()
