"""web/http_protocol.py: the app served by uvicorn with ResponseInOneWrite, as serve.py does
(live_server), on a real socket: whole responses over one keep-alive connection, 100 Continue,
WebSockets. Its limits: tests/test_attacks_http.py."""

from __future__ import annotations

import json
import socket

import httpx

from tests.ws import Socket


def test_responses_are_whole_over_one_connection(live_server: str) -> None:
    with httpx.Client(base_url=live_server) as client:
        for _ in range(3):
            response = client.get("/graphql", params={"query": "{ __typename }"})
            assert response.json()["data"] == {"__typename": "Query"}
        assert client.get("/healthz").text == "ok"


def test_100_continue_is_sent_before_the_body(live_server: str) -> None:
    body = json.dumps({"query": "{ __typename }"}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(head)
        assert connection.recv(65536).startswith(b"HTTP/1.1 100")
        connection.sendall(body)
        answer = b""
        while not answer.endswith(b"}}"):
            answer += connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200") and b'"__typename":"Query"' in answer


async def test_websockets_are_untouched(live_server: str) -> None:
    ws = await Socket.open(live_server)
    await ws.send({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
    assert (await ws.next())["data"] == {"__typename": "Query"}
    await ws.close()
