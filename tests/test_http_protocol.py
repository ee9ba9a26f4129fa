"""web/http_protocol.py: the app served by uvicorn with ResponseInOneWrite, as serve.py does, on
a real socket: whole responses over one keep-alive connection, 100 Continue, WebSockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from app import create_app
from core.config import Settings
from tests.ws import Socket


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        port=port,
        http="web.http_protocol:ResponseInOneWrite",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_responses_are_whole_over_one_connection(served: str) -> None:
    with httpx.Client(base_url=served) as client:
        for _ in range(3):
            response = client.get("/graphql", params={"query": "{ __typename }"})
            assert response.json()["data"] == {"__typename": "Query"}
        assert client.get("/healthz").text == "ok"


def test_100_continue_is_sent_before_the_body(served: str) -> None:
    body = json.dumps({"query": "{ __typename }"}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(head)
        assert connection.recv(65536).startswith(b"HTTP/1.1 100")
        connection.sendall(body)
        answer = b""
        while not answer.endswith(b"}}"):
            answer += connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200") and b'"__typename":"Query"' in answer


async def test_websockets_are_untouched(served: str) -> None:
    ws = await Socket.open(served)
    await ws.send({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
    assert (await ws.next())["data"] == {"__typename": "Query"}
    await ws.close()
