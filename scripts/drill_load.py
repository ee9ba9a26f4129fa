"""The clients of the fault drill (scripts/drill.py) and of tests/test_production.py: requests
noted with their latency and outcome, a mutation sent again until it is answered, as a careful
client does, and a live home timeline that resumes with `since` whenever its socket closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

HOME = "subscription($since: String) { homeTimeline(since: $since) { cursor node { id } } }"
# answers a careful client sends again (with the same idempotency key, for createTweet): the
# balancer's own errors, and the API's when a backend is away
RETRY_STATUSES = {502, 503, 504}
RETRY_CODES = {"INTERNAL_SERVER_ERROR", "RATE_LIMITED"}


class Refused(Exception):
    """A request answered with an error that sending it again would not change."""


@dataclass
class Request:
    kind: str
    started: float  # time.monotonic()
    seconds: float
    failure: str | None  # what went wrong: the status, the error's code, the exception


@dataclass
class Recorder:
    """Every request sent, in the order they were answered."""

    requests: list[Request] = field(default_factory=list)

    def note(self, kind: str, started: float, failure: str | None = None) -> None:
        self.requests.append(Request(kind, started, time.monotonic() - started, failure))

    def failures(self) -> list[str]:
        return [request.failure for request in self.requests if request.failure is not None]


def _failure(response: httpx.Response) -> str | None:
    """None for a 200 with data and no errors; else the status and the errors' codes."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} (not JSON)"
    errors = body.get("errors") if isinstance(body, dict) else None
    if response.status_code == 200 and not errors and body.get("data") is not None:
        return None
    codes = sorted({str(error.get("extensions", {}).get("code")) for error in errors or []})
    return f"{response.status_code} {','.join(codes)}".strip()


def _retryable(failure: str) -> bool:
    status, _, codes = failure.partition(" ")
    return int(status) in RETRY_STATUSES or bool(RETRY_CODES & set(codes.split(",")))


async def query(
    http: httpx.AsyncClient,
    recorder: Recorder,
    document: str,
    token: str | None = None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """A query sent once by GET (the balancer retries it on another process): its data, or None
    when it failed (noted as failed)."""
    params = {"query": document} | ({"variables": json.dumps(variables)} if variables else {})
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    try:
        response = await http.get("/graphql", params=params, headers=headers)
    except httpx.TransportError as error:
        recorder.note("query", started, type(error).__name__)
        return None
    failure = _failure(response)
    recorder.note("query", started, failure)
    data: dict[str, Any] | None = None if failure else response.json()["data"]
    return data


async def mutation(
    http: httpx.AsyncClient,
    recorder: Recorder,
    document: str,
    variables: dict[str, Any],
    token: str | None = None,
    *,
    give_up_after: float = 120,
) -> dict[str, Any]:
    """The data of a mutation, sent again after a pause that doubles from 0.1 s to 2 s for as
    long as it meets a 502, 503, 504, a connection closed without an answer, a timeout or an
    INTERNAL_SERVER_ERROR, as a careful client would: only safe for mutations that are
    idempotent or carry an idempotency key. Raises Refused on any other error, TimeoutError
    after `give_up_after` seconds."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline, pause = time.monotonic() + give_up_after, 0.1
    while True:
        started = time.monotonic()
        try:
            response = await http.post(
                "/graphql", json={"query": document, "variables": variables}, headers=headers
            )
        except httpx.TransportError as error:
            recorder.note("mutation", started, type(error).__name__)
        else:
            failure = _failure(response)
            recorder.note("mutation", started, failure)
            if failure is None:
                data: dict[str, Any] = response.json()["data"]
                return data
            if not _retryable(failure):
                raise Refused(f"{failure}: {response.text[:300]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not answered in {give_up_after} s: {document[:60]}")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 2.0)


@dataclass
class LiveTimeline:
    """A home timeline subscription over the balancer that reconnects and resumes with `since`
    (the cursor of the last edge it received) whenever its socket closes or its operation ends,
    as a client should: `received` is what it got, across its resumes, in arrival order."""

    url: str  # the balancer's http:// base URL
    token: str
    since: str
    received: list[str] = field(default_factory=list)  # tweet ids
    resumes: int = 0
    close_codes: list[int | None] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        pause = 0.2
        while not stop.is_set():
            try:
                await self._session(stop)
                pause = 0.2
            except websockets.ConnectionClosed as closed:
                self.close_codes.append(closed.rcvd.code if closed.rcvd else None)
            except (OSError, websockets.WebSocketException, TimeoutError):
                self.close_codes.append(None)  # refused, or the handshake failed
            if stop.is_set():
                return
            self.resumes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(pause * 2, 2.0)

    async def _session(self, stop: asyncio.Event) -> None:
        url = self.url.replace("http", "ws", 1) + "/graphql"
        async with websockets.connect(
            url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], open_timeout=10
        ) as socket:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}}
            await socket.send(json.dumps(init))
            while json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] != "connection_ack":
                pass
            payload = {"query": HOME, "variables": {"since": self.since}}
            subscribe = {"id": uuid.uuid4().hex[:8], "type": "subscribe", "payload": payload}
            await socket.send(json.dumps(subscribe))
            self.connected.set()
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    receiving = asyncio.ensure_future(socket.recv())
                    await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if stopping.done():
                        receiving.cancel()
                        return
                    message = json.loads(receiving.result())
                    if message["type"] == "ping":
                        await socket.send(json.dumps({"type": "pong"}))
                    elif message["type"] == "next" and "errors" not in message["payload"]:
                        edge = message["payload"]["data"]["homeTimeline"]
                        self.received.append(edge["node"]["id"])
                        self.since = edge["cursor"]
                    elif message["type"] in ("next", "error", "complete"):
                        self.close_codes.append(None)  # the operation ended: subscribe again
                        return
            finally:
                stopping.cancel()
