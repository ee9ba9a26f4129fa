"""Rate limits (CONTRACT.md, "Rules and limits"): the GCRA script, failed logins, createTweet,
and the per-client request budget, on the real Redis and through HTTP on the app.

Every test keys its budget by an address or user of its own: the suite's shared app uses
127.0.0.1 with a large budget, and a small budget must never exhaust that key.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
import websockets
from starlette.applications import Starlette
from websockets.exceptions import InvalidStatus

from app import create_app
from core import redis_clients
from core.config import Settings
from core.errors import RateLimited
from core.ids import expect_global_id
from schema.context import Context
from schema.rate_limit import charge
from services import rate_limits
from services.rate_limits import ClientBudget, Limiter, Rate, client_key
from tests.graphql import REGISTER, error_code, ok, post, register, unique_handle
from tests.test_query_limits import COST
from tests.test_social import RETWEET
from tests.ws import TRANSPORT_WS, Socket
from web.errors import refused_before_execution

LOGIN = "mutation($input: LoginInput!) { login(input: $input) { token user { id } } }"
CHEAP = "{ __typename }"
CHANGE_PASSWORD = """
mutation($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { token }
}
"""
_addresses = itertools.count(1)


def new_address() -> str:
    n = next(_addresses)
    return f"10.{uuid.uuid4().int % 250}.{n // 250 % 250}.{n % 250 + 1}"


@asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[Starlette]:
    app = create_app(replace(settings, **changes))
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_of(app: Starlette, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def send(
    client: httpx.AsyncClient, query: str = CHEAP, token: str | None = None, **variables: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


@pytest.fixture
async def limiter(settings: Settings) -> AsyncIterator[Limiter]:
    redis = redis_clients.connect(settings.redis_url or "", timeout=5, decode_responses=True)
    yield Limiter(redis, settings)
    await redis.aclose()


# The GCRA script


async def test_a_burst_up_to_the_limit_then_refusal_with_retry_after(limiter: Limiter) -> None:
    rate, ident = Rate(3, 2), uuid.uuid4().hex
    taken = [await limiter.take("test", ident, rate=rate) for _ in range(3)]
    assert [d.allowed for d in taken] == [True, True, True]
    assert [d.remaining for d in taken] == [2, 1, 0]
    assert taken[-1].reset == 2 and taken[-1].limit == 3
    refused = await limiter.take("test", ident, rate=rate)
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 0, 1)
    ttl = await limiter.redis.pttl(rate_limits.key("test", ident))
    assert 1000 < ttl <= 2000  # the emission window


async def test_retry_after_is_when_one_unit_is_back(limiter: Limiter) -> None:
    rate, ident = Rate(2, 10), uuid.uuid4().hex
    for _ in range(2):
        assert (await limiter.take("test", ident, rate=rate)).allowed
    refused = await limiter.take("test", ident, rate=rate)
    assert not refused.allowed and refused.retry_after == 5 and refused.reset == 10
    with pytest.raises(RateLimited) as raised:
        await limiter.enforce("test", ident, rate=rate)
    assert raised.value.retry_after == 5 and raised.value.extensions == {"retryAfter": 5}


async def test_refill_over_time(limiter: Limiter) -> None:
    rate, ident = Rate(3, 1.5), uuid.uuid4().hex  # one unit every 0.5 s
    for _ in range(3):
        assert (await limiter.take("test", ident, rate=rate)).allowed
    assert not (await limiter.take("test", ident, rate=rate)).allowed
    await asyncio.sleep(0.55)
    assert (await limiter.take("test", ident, rate=rate)).allowed
    assert not (await limiter.take("test", ident, rate=rate)).allowed


async def test_cost_takes_several_units_or_none(limiter: Limiter) -> None:
    rate, ident = Rate(5, 60), uuid.uuid4().hex
    assert (await limiter.take("test", ident, rate=rate, cost=3)).remaining == 2
    refused = await limiter.take("test", ident, rate=rate, cost=3)
    assert not refused.allowed and refused.remaining == 2 and refused.retry_after == 12
    assert (await limiter.take("test", ident, rate=rate, cost=2)).remaining == 0


async def test_peek_takes_nothing(limiter: Limiter) -> None:
    rate, ident = Rate(1, 60), uuid.uuid4().hex
    for _ in range(3):
        assert (await limiter.peek("test", ident, rate=rate)).allowed
    assert (await limiter.take("test", ident, rate=rate)).allowed
    assert not (await limiter.peek("test", ident, rate=rate)).allowed


async def test_give_back_returns_taken_units_and_never_more(limiter: Limiter) -> None:
    rate, ident = Rate(2, 60), uuid.uuid4().hex
    for _ in range(2):
        assert (await limiter.take("test", ident, rate=rate)).allowed
    assert not (await limiter.take("test", ident, rate=rate)).allowed
    assert (await limiter.give_back("test", ident, rate=rate)).remaining == 1
    assert (await limiter.take("test", ident, rate=rate)).allowed
    for _ in range(3):
        given = await limiter.give_back("test", ident, rate=rate)
    assert given.allowed and given.remaining == 2  # whole again, not more
    assert not await limiter.redis.exists(rate_limits.key("test", ident))
    assert [(await limiter.take("test", ident, rate=rate)).allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]


async def test_no_limit_when_zero_and_open_when_redis_is_down(settings: Settings) -> None:
    down = aioredis.from_url("redis://127.0.0.1:1/0")
    limiter = Limiter(down, settings)
    for _ in range(3):
        assert (await limiter.take("test", "x", rate=Rate(1, 60))).allowed
        assert (await limiter.take("test", "x", rate=Rate(0, 60))).allowed
    await down.aclose()


# Failed logins


async def _login(client: httpx.AsyncClient, handle: str, password: str) -> dict[str, Any]:
    response = await send(client, LOGIN, input={"handle": handle, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_the_eleventh_login_after_ten_failures_is_refused(
    client: httpx.AsyncClient,
) -> None:
    victim = await register(client, unique_handle("Vi"), password="right password")
    for _ in range(10):
        assert _code(await _login(client, victim.handle, "wrong password")) == "UNAUTHENTICATED"
    refused = await _login(client, victim.handle, "right password")
    assert _code(refused) == "RATE_LIMITED"
    assert 60 < refused["errors"][0]["extensions"]["retryAfter"] <= 90  # 15 minutes / 10
    assert _code(await _login(client, victim.handle.upper(), "right password")) == "RATE_LIMITED"
    other = await register(client, unique_handle("Ot"), password="right password")
    assert _code(await _login(client, other.handle, "wrong password")) == "UNAUTHENTICATED"
    assert "errors" not in await _login(client, other.handle.lower(), "right password")


async def test_successful_logins_do_not_count(client: httpx.AsyncClient) -> None:
    account = await register(client, password="right password")
    for _ in range(11):
        assert "errors" not in await _login(client, account.handle, "right password")


# createTweet


async def test_create_tweet_limit_counts_replies_not_retweets(settings: Settings) -> None:
    async with serving(settings, tweet_rate_limit=3) as app, client_of(app, new_address()) as c:
        ann, bob = await register(c), await register(c)
        first = await post(c, ann, "one")
        await post(c, ann, "two", reply_to=first)
        assert (
            await error_code(
                c, 'mutation { createTweet(input: {text: ""}) { id } }', token=ann.token
            )
            == "BAD_USER_INPUT"
        )
        await post(c, ann, "three")
        body = (
            await send(c, 'mutation { createTweet(input: {text: "four"}) { id } }', ann.token)
        ).json()
        assert _code(body) == "RATE_LIMITED"
        assert body["errors"][0]["extensions"]["retryAfter"] == 3 * 3600 // 3
        await ok(c, RETWEET, {"id": first}, token=ann.token)  # retweets are not createTweet
        await post(c, bob, "bob is not limited by ann")


# The per-client request budget


async def test_over_the_budget_429_with_retry_after_and_headers(settings: Settings) -> None:
    async with serving(settings, rate_limit_per_minute=3) as app:
        async with client_of(app, new_address()) as c:
            responses = [await send(c) for _ in range(3)]
            assert [r.status_code for r in responses] == [200, 200, 200]
            assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
            assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"3"}
            assert responses[-1].headers["X-RateLimit-Reset"] == "60"
            refused = await send(c)
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "20"  # one request every 60 / 3 seconds
            assert refused.json() == {
                "errors": [
                    {
                        "message": refused.json()["errors"][0]["message"],
                        "extensions": {"code": "RATE_LIMITED", "retryAfter": 20},
                    }
                ]
            }
            assert (await c.get("/graphql", params={"query": CHEAP})).status_code == 429
            assert (await c.get("/api/v1/anything")).status_code == 429
            for path in ("/healthz", "/metrics"):
                response = await c.get(path)
                assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers
        async with client_of(app, new_address()) as other:
            assert (await send(other)).status_code == 200
            assert (await other.get("/api/v1/anything")).headers["X-RateLimit-Remaining"] == "1"


async def test_sign_ups_are_bounded_by_the_budget(settings: Settings) -> None:
    async with (
        serving(settings, rate_limit_per_minute=2) as app,
        client_of(app, new_address()) as c,
    ):
        for _ in range(2):
            await register(c)
        variables = {"input": {"handle": unique_handle(), "password": "correct horse"}}
        response = await send(c, REGISTER, **variables)
        assert response.status_code == 429


async def test_a_signed_in_client_is_its_user(settings: Settings) -> None:
    async with serving(settings, rate_limit_per_minute=3) as app:
        async with client_of(app, new_address()) as setup:
            ann = await register(setup)
            second = (await _login(setup, ann.handle, "correct horse"))["data"]["login"]["token"]
        async with client_of(app, new_address()) as setup:
            bob = await register(setup)
        async with client_of(app, new_address()) as c:
            assert [(await send(c, token=ann.token)).status_code for _ in range(3)] == [200] * 3
            assert (await send(c, token=second)).status_code == 429  # the same user
            assert (await send(c, token=bob.token)).status_code == 200  # another user
            assert (await send(c)).status_code == 200  # this address, anonymous
            assert (await send(c, token="not a token")).status_code == 200  # anonymous too


async def test_a_revoked_or_expired_token_spends_its_address_not_its_user(
    settings: Settings,
) -> None:
    async with serving(settings, rate_limit_per_minute=3) as app:
        async with client_of(app, new_address()) as setup:
            ann = await register(setup, password="first password")
            variables = {"current": "first password", "new": "second password"}
            changed = await ok(setup, CHANGE_PASSWORD, variables, token=ann.token)  # ann's 1st
        fresh = changed["changePassword"]["token"]
        expired = replace(app.state.tokens, ttl_seconds=-3600).issue(
            expect_global_id(ann.id, "User"), generation=1
        )
        for stolen in (ann.token, expired):  # revoked by the change; expired
            async with client_of(app, new_address()) as attacker:
                statuses = [(await send(attacker, token=stolen)).status_code for _ in range(4)]
                assert statuses == [200, 200, 200, 429]  # the attacker's address paid
        async with client_of(app, new_address()) as c:
            response = await send(c, token=fresh)
            assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "1"


async def test_two_app_instances_share_the_budget(settings: Settings) -> None:
    address = new_address()
    async with (
        serving(settings, rate_limit_per_minute=3) as first,
        serving(settings, rate_limit_per_minute=3) as second,
        client_of(first, address) as one,
        client_of(second, address) as two,
    ):
        assert [(await send(c)).status_code for c in (one, two, one)] == [200] * 3
        assert (await send(two)).status_code == 429
        assert (await send(one)).status_code == 429


async def test_concurrent_requests_take_exactly_the_budget(settings: Settings) -> None:
    async with (
        serving(settings, rate_limit_per_minute=10) as app,
        client_of(app, new_address()) as c,
    ):
        responses = await asyncio.gather(*(send(c) for _ in range(20)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 10 + [429] * 10


# Weighting by the estimated cost (schema/rate_limit.py)


def test_weight_is_one_unit_per_started_hundred_of_cost() -> None:
    assert [rate_limits.weight(c, 100) for c in (0, 1, 100, 101, 250, 50_000)] == [
        1,
        1,
        1,
        2,
        3,
        500,
    ]


async def test_an_operation_pays_its_weight_less_what_the_middleware_took(
    app: Starlette, settings: Settings
) -> None:
    small = replace(settings, rate_limit_per_minute=10)
    context = _anonymous_context(app, small, ClientBudget(new_address(), prepaid=1))
    context.estimated_cost = 450  # 5 units: the middleware took 1, the operation takes 4
    await charge(context)
    assert context.client_budget is not None and context.client_budget.decision is not None
    assert context.client_budget.decision.remaining == 6
    await charge(context)
    assert context.client_budget.decision.remaining == 2
    with pytest.raises(RateLimited) as raised:
        await charge(context)
    assert raised.value.retry_after == 12  # two more units: 2 * 60 / 10 seconds
    context.client_budget = ClientBudget(new_address(), prepaid=1)
    context.estimated_cost = 50_000  # more than the whole budget: charged as the whole budget
    await charge(context)
    assert context.client_budget.decision is not None
    assert context.client_budget.decision.remaining == 1  # 10 less 9: 1 was "prepaid" here
    await context.close()


# WebSockets: the handshake takes one unit of the address, each operation one of the client


@contextmanager
def limited_server(settings: Settings, **changes: Any) -> Iterator[str]:
    """The app, with these settings changed, served by uvicorn in a thread of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(replace(settings, **changes))
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def _connect(url: str, source: str, token: str | None = None) -> Socket:
    connection = await websockets.connect(url, subprotocols=[TRANSPORT_WS], local_addr=(source, 0))  # type: ignore[list-item]
    opened = Socket(connection, TRANSPORT_WS)
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await opened.send({"type": "connection_init", "payload": payload})
    assert (await opened.receive())["type"] == "connection_ack"
    return opened


async def test_websocket_handshakes_and_operations_take_from_the_budget(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    ann = await register(client)
    with limited_server(settings, rate_limit_per_minute=3) as url:
        signed_in = await _connect(url, "127.0.0.2", ann.token)
        for _ in range(3):  # a query over the socket: its result, then complete
            await signed_in.subscribe(CHEAP)
            assert "errors" not in await signed_in.next()
            assert (await signed_in.receive())["type"] == "complete"
        await signed_in.subscribe(CHEAP)
        refused = await signed_in.next()
        assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert refused["errors"][0]["extensions"]["retryAfter"] > 0
        await signed_in.close()
        anonymous = [await _connect(url, "127.0.0.2") for _ in range(2)]  # 3 handshakes in all
        with pytest.raises(InvalidStatus) as denied:
            await _connect(url, "127.0.0.2")
        assert denied.value.response.status_code == 429
        assert denied.value.response.headers["Retry-After"] == "20"
        for opened in anonymous:
            await opened.close()


async def test_an_operation_refused_by_the_extension_is_refused_before_execution(
    app: Starlette, settings: Settings, limiter: Limiter
) -> None:
    small = replace(settings, rate_limit_per_minute=2)
    address = new_address()
    for _ in range(2):
        await limiter.take(rate_limits.CLIENT, client_key(None, address), rate=Rate(2, 60))
    # prepaid nothing, as on a WebSocket: it pays here
    context = _anonymous_context(app, small, ClientBudget(address, prepaid=0))
    result = await app.state.schema.execute(CHEAP, context_value=context)
    refused = refused_before_execution(result)  # what web/graphql_http.py answers with 429
    assert result.data is None and refused is not None and refused.retry_after == 30
    await context.close()


async def test_a_costly_query_takes_more_of_the_budget_and_is_refused_with_429(
    settings: Settings,
) -> None:
    costly = {"a": 4, "b": 1, "c": 100, "d": 1}  # 1 + 4 * (3 + 1 * 103) + 1 + 1 = 427: 5 units
    async with serving(settings, rate_limit_per_minute=5) as app:
        async with client_of(app, new_address()) as c:
            estimated = (await send(c, COST, **costly)).json()["extensions"]["cost"]["estimated"]
            assert estimated == 427
        async with client_of(app, new_address()) as c:
            assert (await send(c)).status_code == 200  # 1 unit: 4 left
            refused = await send(c, COST, **costly)  # needs 5
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "12"
            assert refused.json().get("data") is None  # nothing ran
            assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            after = await send(c)  # the refused query took only the middleware's unit
            assert after.status_code == 200 and after.headers["X-RateLimit-Remaining"] == "2"


async def test_the_rest_api_shares_the_limits_and_answers_429_in_its_own_shape(
    settings: Settings,
) -> None:
    async with (
        serving(settings, rate_limit_per_minute=2) as app,
        client_of(app, new_address()) as c,
    ):
        for _ in range(2):
            assert (await c.get("/api/v1/users/nobody")).status_code == 404
        refused = await c.get("/api/v1/users/nobody")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
    async with serving(settings) as app, client_of(app, new_address()) as c:
        user = await register(c)
        credentials = {"handle": user.handle, "password": "wrong password"}
        for _ in range(10):
            assert (await c.post("/api/v1/login", json=credentials)).status_code == 401
        credentials["password"] = "correct horse"
        refused = await c.post("/api/v1/login", json=credentials)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "RATE_LIMITED"


def _anonymous_context(app: Starlette, settings: Settings, budget: ClientBudget) -> Context:
    """A signed-out operation's context on the app's stores, with its own limits and budget."""
    state = app.state
    return Context(
        stores=replace(state.stores, settings=settings),
        tokens=state.tokens,
        viewer_id=None,
        request_id="test",
        search=state.search,
        limiter=Limiter(state.redis, settings),
        client_budget=budget,
    )
