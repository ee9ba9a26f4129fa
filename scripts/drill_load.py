"""The clients of the fault drill (scripts/drill.py) and of tests/test_production.py: requests
noted with their latency and outcome, a mutation sent again until it is answered, as a careful
client does, a live home timeline that resumes with `since` whenever its socket closes, and the
drill's load (Load), noting what the service acknowledged (Ledger)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from core.ids import expect_global_id, to_global_id

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


REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { token user { id handle } } }"
POST = "mutation($i: CreateTweetInput!) { createTweet(input: $i) { id } }"
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { id } }"
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { id } }"
READ = (
    "{ homeTimeline(first: 20) { edges { cursor node { id text likeCount author { handle } } } } }"
)
NEWEST = "{ homeTimeline(first: 1) { edges { cursor node { id } } } }"


@dataclass(frozen=True)
class User:
    id: int
    handle: str
    token: str


@dataclass
class Ledger:
    """What the service acknowledged (answered with data) and what it did not."""

    users: list[User] = field(default_factory=list)
    follows: set[tuple[int, int]] = field(default_factory=set)  # (follower, followee)
    tweets: dict[str, int] = field(default_factory=dict)  # idempotency key -> tweet id
    authors: dict[str, int] = field(default_factory=dict)  # key -> author, sent or not
    mentions: dict[str, int] = field(default_factory=dict)  # key -> the user mentioned
    likes: set[tuple[int, int]] = field(default_factory=set)  # (user, tweet)
    unanswered: list[str] = field(default_factory=list)  # mutations given up on or refused
    tweet_authors: dict[int, int] = field(default_factory=dict)  # tweet id -> author


class Load:
    """The drill's clients over one balancer: writers posting (some mentioning someone), likers,
    followers and readers, each pausing between requests, until stop() or `max_requests`."""

    def __init__(
        self, http: httpx.AsyncClient, recorder: Recorder, ledger: Ledger, *, max_requests: int
    ) -> None:
        self.http, self.recorder, self.ledger = http, recorder, ledger
        self.max_requests = max_requests
        self.stopping = asyncio.Event()
        self.quiet: set[int] = set()  # users whose follows stay as set up (the live sockets')
        self._random = random.Random(17)

    async def register(self, handle: str) -> User:
        variables = {"i": {"handle": handle, "password": "drill password"}}
        payload = (await mutation(self.http, self.recorder, REGISTER, variables))["register"]
        user = User(
            expect_global_id(payload["user"]["id"], "User"),
            payload["user"]["handle"],
            payload["token"],
        )
        self.ledger.users.append(user)
        return user

    async def follow(self, follower: User, followee: User) -> None:
        variables = {"id": to_global_id("User", followee.id)}
        if await self._mutation(FOLLOW, variables, follower):
            self.ledger.follows.add((follower.id, followee.id))

    async def post(self, author: User, mention: User | None = None) -> None:
        key = uuid.uuid4().hex
        text = f"drill {key}" + (f" hello @{mention.handle}" if mention else "")
        self.ledger.authors[key] = author.id
        if mention is not None:
            self.ledger.mentions[key] = mention.id
        variables = {"i": {"text": text, "idempotencyKey": key}}
        data = await self._mutation(POST, variables, author)
        if data is not None:
            tweet = expect_global_id(data["createTweet"]["id"], "Tweet")
            self.ledger.tweets[key], self.ledger.tweet_authors[tweet] = tweet, author.id

    async def like(self, user: User, tweet: int) -> None:
        if await self._mutation(LIKE, {"id": to_global_id("Tweet", tweet)}, user):
            self.ledger.likes.add((user.id, tweet))

    async def newest(self, user: User) -> tuple[str, int]:
        """The cursor and the tweet id of the newest entry of the user's home timeline."""
        data = await self._query(NEWEST, user)
        while data is None or not data["homeTimeline"]["edges"]:
            await asyncio.sleep(0.5)
            data = await self._query(NEWEST, user)
        edge = data["homeTimeline"]["edges"][0]
        return edge["cursor"], expect_global_id(edge["node"]["id"], "Tweet")

    def run(self, writers: int, likers: int, readers: int) -> list[asyncio.Task[None]]:
        actors = [self._writer] * writers + [self._liker] * likers + [self._reader] * readers
        return [asyncio.create_task(actor()) for actor in [*actors, self._follower]]

    def stop(self) -> None:
        self.stopping.set()

    async def _paced(self, seconds: float) -> bool:
        """Pauses; False once the load is to stop (told to, or the request budget spent)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds * self._random.uniform(0.5, 1.5))
        return not self.stopping.is_set() and len(self.recorder.requests) < self.max_requests

    async def _writer(self) -> None:
        while await self._paced(0.25):
            users = self.ledger.users
            mention = self._random.choice(users) if self._random.random() < 0.3 else None
            await self.post(self._random.choice(users), mention)

    async def _liker(self) -> None:
        while await self._paced(0.25):
            tweets = list(self.ledger.tweet_authors)
            if tweets:
                await self.like(self._random.choice(self.ledger.users), self._random.choice(tweets))

    async def _follower(self) -> None:
        while await self._paced(3.0):
            users = [user for user in self.ledger.users if user.id not in self.quiet]
            follower, followee = self._random.sample(users, 2)
            await self.follow(follower, followee)

    async def _reader(self) -> None:
        while await self._paced(0.1):
            await self._query(READ, self._random.choice(self.ledger.users))

    async def _query(self, document: str, user: User) -> dict[str, Any] | None:
        return await query(self.http, self.recorder, document, user.token)

    async def _mutation(
        self, document: str, variables: dict[str, Any], user: User
    ) -> dict[str, Any] | None:
        try:
            return await mutation(self.http, self.recorder, document, variables, user.token)
        except (Refused, TimeoutError) as error:
            self.ledger.unanswered.append(f"{document.split('(')[0]}: {error}")
            return None
