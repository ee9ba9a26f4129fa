"""Schema-driven fuzzing of the served GraphQL API (hypothesis-graphql).

Generated queries and mutations, with hostile scalar values both inline and as variables, go
over HTTP to the app as a seeded user with tweets, follows, likes and notifications. Whatever
comes back must be an answer or an error with one of the contract's codes: never an HTTP 5xx,
never INTERNAL_SERVER_ERROR, never an execution error of graphql-core itself (a resolver
breaking the schema's promises, which would otherwise pass as BAD_USER_INPUT).

The runs are derandomized: a failure reproduces with the same command, and Hypothesis prints
the shrunk document and variables that failed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import graphql
import httpx
import pytest
import websockets
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries
from starlette.applications import Starlette

from core.config import Settings
from core.ids import parse_global_id
from schema.build import schema
from services.stores import Stores
from tests.conftest import run_pending_jobs
from tests.graphql import Account, ok, post, register
from tests.ws import Socket

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=10: a longer hunt than CI's
QUERY_EXAMPLES = int(500 * SCALE)
MUTATION_EXAMPLES = int(300 * SCALE)
VARIABLE_EXAMPLES = int(300 * SCALE)
NEGATIVE_EXAMPLES = int(50 * SCALE)
SUBSCRIPTION_EXAMPLES = int(60 * SCALE)

CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "QUERY_TOO_COMPLEX",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "PERSISTED_QUERY_NOT_FOUND",
}
# graphql-core's own words when a resolver breaks the schema's promises (a bug, not bad input)
EXECUTION_FAULTS = (
    "Cannot return null for non-nullable field",
    "cannot represent",
    "Expected Iterable",
    "Abstract type",
    "Runtime Object type",
    "Expected value of type",
)
SCHEMA = graphql.build_schema(schema.as_str())
FUZZ = settings(
    derandomize=os.environ.get("FUZZ_RANDOM") is None,  # FUZZ_RANDOM=1: new examples each run
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def _gid(type_name: str, raw: object) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw}".encode()).decode().rstrip("=")


HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n",
    "\u202e\u200b\ufeff",
    "\ud800",
    "lone \udfff surrogate",
    "e\u0301" * 3,
    "🙂" * 281,
    "x" * 281,
    "y" * 5000,
    "#" * 50,
    "@",
    "#",
    '"',
    '"unclosed phrase',
    "'; DROP TABLE users; --",
    "%",
    "_",
    "\\",
    "*",
    "a:b",
    "-x",
    "OR",
    "!",
    "&|",
    "null",
    "0",
    "-1",
    "9223372036854775808",
    "1e309",
    "NaN",
]
MALFORMED_IDS = [
    "",
    "\x00",
    "=",
    "====",
    "not base64!",
    "🙂",
    _gid("Tweet", 0),
    _gid("Tweet", -1),
    _gid("Tweet", 2**63),
    _gid("Tweet", 2**63 - 1),
    _gid("Tweet", 10**40),
    _gid("Tweet", "1e3"),
    _gid("Tweet", " 1"),
    _gid("Tweet", "01"),
    _gid("Tweet", "+1"),
    _gid("Tweet", "1_000"),
    _gid("Tweet", "١٢"),
    _gid("User", 1),
    _gid("Notification", 1),
    _gid("Nope", 1),
    _gid("", 1),
    _gid("Tweet", ""),
    base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
    base64.urlsafe_b64encode(b"Tweet:1\x00").decode(),
    "VHdlZXQ6MQ",  # Tweet:1 without padding
    "VHdlZXQ6MQ==",
    "VHdlZXQ6MQ===",
    "1",
    "-1",
    "99999999999999999999999999",
]
MALFORMED_CURSORS = [
    "",
    "\x00",
    "=",
    "a",
    "ab",
    "abc",
    "abcd",
    "🙂",
    base64.urlsafe_b64encode(b"x" * 10).decode(),
    base64.urlsafe_b64encode(b"home:" + b"\x00" * 18).decode(),
    base64.urlsafe_b64encode(b"\xff" * 64).decode(),
    "A" * 5000,
]
HUGE_INTS = [2**31, -(2**31) - 1, 2**53 + 1, 2**63, -(2**63) - 1, 10**40]


@dataclass
class World:
    """The seeded data: a viewer with tweets, follows, likes, retweets and notifications."""

    viewer: Account
    others: list[Account]
    handles: list[str]
    ids: list[str]
    cursors: list[str]

    def token(self, choice: int) -> str | None:
        return [self.viewer.token, None, "not-a-token", self.others[0].token][choice]


SEED_CURSORS = """
query($h: String!) {
  homeTimeline(first: 3) { edges { cursor node { id replies(first: 2) { edges { cursor } } } } }
  notifications(first: 3) { edges { cursor node { id } } }
  searchTweets(query: "fuzz", first: 2) { edges { cursor } }
  searchUsers(query: "fz", first: 2) { edges { cursor } }
  user(handle: $h) {
    tweets(first: 2) { edges { cursor } }
    followers(first: 2) { edges { cursor } }
    following(first: 2) { edges { cursor } }
    likes(first: 2) { edges { cursor } }
  }
}
"""


def _strings_in(value: Any, key: str) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k == key and isinstance(v, str)]
        return found + [s for v in value.values() for s in _strings_in(v, key)]
    if isinstance(value, list):
        return [s for v in value for s in _strings_in(v, key)]
    return []


@pytest.fixture(scope="module")
async def world(
    client: httpx.AsyncClient, app: Starlette, settings: Settings
) -> AsyncIterator[World]:
    # the per-client request budget is not what is under test here
    before = app.state.settings
    app.state.settings = replace(before, rate_limit_per_minute=10**9)
    try:
        yield await seeded(client, settings)
    finally:
        app.state.settings = before


async def seeded(client: httpx.AsyncClient, settings: Settings) -> World:

    viewer = await register(client, f"fz{int(time.time() * 1000) % 10**9}")
    others = [await register(client) for _ in range(3)]
    tweet_ids = []
    for number, author in enumerate([viewer, *others]):
        first = await post(client, author, f"fuzz #seed{number} #fuzz by @{viewer.handle}")
        tweet_ids += [first, await post(client, author, f"a reply #fuzz {number}", first)]
        tweet_ids += [await post(client, author, f"more #fuzz {n}") for n in range(3)]
    follow = "mutation($id: ID!) { follow(userId: $id) { id } }"
    for other in others:
        await ok(client, follow, {"id": other.id}, token=viewer.token)
        await ok(client, follow, {"id": viewer.id}, token=other.token)
        for tweet_id in tweet_ids[:4]:
            await ok(
                client,
                "mutation($id: ID!) { likeTweet(id: $id) { id } retweet(id: $id) { id } }",
                {"id": tweet_id},
                token=other.token,
            )
    await ok(client, "mutation($id: ID!) { likeTweet(id: $id) { id } }", {"id": tweet_ids[2]},
             token=viewer.token)  # fmt: skip
    stores = Stores.connect(settings, pool_size=2)
    try:
        await run_pending_jobs(stores)
    finally:
        await stores.close()
    data = await ok(client, SEED_CURSORS, {"h": viewer.handle}, token=viewer.token)
    return World(
        viewer=viewer,
        others=others,
        handles=[viewer.handle, others[0].handle, viewer.handle.upper()],
        ids=[viewer.id, *(o.id for o in others), *tweet_ids, *_strings_in(data, "id")],
        cursors=_strings_in(data, "cursor"),
    )


# ---- values -------------------------------------------------------------------------------


def strings(world: World) -> st.SearchStrategy[str]:
    """Mostly plausible (handles, tweet texts, passwords, cursors), often hostile."""
    plausible = st.one_of(
        st.sampled_from(world.handles + world.cursors + ["fuzz", "#fuzz", "correct horse"]),
        st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True),
        st.builds(
            lambda words, handle: f"{words} #fuzz @{handle}",
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=40),
            st.sampled_from(world.handles),
        ),
    )
    hostile = st.one_of(
        st.sampled_from(HOSTILE_STRINGS + MALFORMED_CURSORS),
        st.text(max_size=40),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=300),
    )
    return st.one_of(plausible, plausible, hostile)


def id_values(world: World, kind: str = "Tweet") -> st.SearchStrategy[str]:
    """Real ids mostly, of `kind` most (so that resolvers have data), else malformed ones."""
    preferred = [i for i in world.ids if parse_global_id(i)[0] == kind]
    return st.one_of(
        *[st.sampled_from(preferred)] * 4,
        st.sampled_from(world.ids),
        st.sampled_from(MALFORMED_IDS + world.cursors),
        st.text(max_size=20),
    )


def ints() -> st.SearchStrategy[int]:
    return st.one_of(
        st.integers(1, 5),
        st.integers(-3, 120),
        st.sampled_from([0, 1, 100, 101, -1, 2**31 - 1, -(2**31)]),
    )


def literal_scalars(world: World) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Inline argument values for the generated documents (a huge Int fails validation)."""
    return {
        "ID": id_values(world).map(nodes.String),
        "String": strings(world).map(nodes.String),
        "Int": st.one_of(ints(), ints(), ints(), st.sampled_from(HUGE_INTS)).map(nodes.Int),
    }


WRONG: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(HUGE_INTS + [1.5, float("1e300"), True, [], {}, ["x"], {"a": 1}, "\ud800"]),
    st.text(max_size=5),
)


def variable_value(
    world: World, type_: graphql.GraphQLInputType, name: str = ""
) -> st.SearchStrategy[Any]:
    """A JSON value for a variable or input field `name` of `type_`: mostly of the type,
    sometimes null where it may not be, sometimes of another type altogether."""
    if isinstance(type_, graphql.GraphQLNonNull):
        return st.one_of(*[value_of(world, type_.of_type, name)] * 12, WRONG, st.none())
    return st.one_of(*[value_of(world, type_, name)] * 8, WRONG, st.none(), st.none())


def value_of(world: World, type_: graphql.GraphQLInputType, name: str) -> st.SearchStrategy[Any]:
    if isinstance(type_, graphql.GraphQLInputObjectType):
        fields = {n: variable_value(world, field.type, n) for n, field in type_.fields.items()}
        required = {n for n, f in type_.fields.items() if graphql.is_required_input_field(f)}
        return st.fixed_dictionaries(
            {n: s for n, s in fields.items() if n in required},
            optional={
                **{n: s for n, s in fields.items() if n not in required},
                "unknownField": st.just(1),
            },
        )
    if isinstance(type_, graphql.GraphQLList):
        return st.lists(variable_value(world, type_.of_type), max_size=3)
    if isinstance(type_, graphql.GraphQLEnumType):
        return st.sampled_from([*type_.values, "NOT_A_VALUE"])
    if name in ("after", "since"):
        return st.one_of(st.sampled_from(world.cursors), strings(world))
    return {
        "ID": id_values(world, {"userId": "User", "upTo": "Notification"}.get(name, "Tweet")),
        "String": strings(world),
        "Int": st.one_of(ints(), ints(), st.sampled_from(HUGE_INTS)),
        "Boolean": st.booleans(),
    }.get(graphql.get_named_type(type_).name, strings(world))


# ---- documents with variables ------------------------------------------------------------


def selection(type_: graphql.GraphQLOutputType, depth: int = 2) -> str:
    """Every field of `type_` needing no argument, objects `depth` levels deep."""
    named = graphql.get_named_type(type_)
    if isinstance(named, graphql.GraphQLScalarType | graphql.GraphQLEnumType):
        return ""
    if isinstance(named, graphql.GraphQLInterfaceType | graphql.GraphQLUnionType):
        return "{ __typename ... on Node { id } ... on Tweet { text author { handle } } }"
    assert isinstance(named, graphql.GraphQLObjectType)
    parts = []
    for name, field in named.fields.items():
        if any(graphql.is_required_argument(a) for a in field.args.values()):
            continue
        sub = graphql.get_named_type(field.type)
        if isinstance(sub, graphql.GraphQLScalarType | graphql.GraphQLEnumType):
            parts.append(name)
        elif depth > 0:
            parts.append(f"{name} {selection(field.type, depth - 1)}")
    return "{ " + (" ".join(parts) or "__typename") + " }"


@dataclass(frozen=True)
class Template:
    document: str
    arguments: dict[str, graphql.GraphQLInputType]


def templates(root: graphql.GraphQLObjectType, operation: str) -> list[Template]:
    """One operation per root field, every argument a variable of the argument's own type."""
    found = []
    for name, field in root.fields.items():
        declared = ", ".join(f"${arg}: {arg_def.type}" for arg, arg_def in field.args.items())
        passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
        header = f"{operation}({declared})" if declared else operation
        call = f"{name}({passed})" if passed else name
        document = f"{header} {{ {call} {selection(field.type)} }}"
        graphql.parse(document)
        found.append(Template(document, {a: d.type for a, d in field.args.items()}))
    return found


QUERY_FIELDS = sorted(SCHEMA.query_type.fields)  # type: ignore[union-attr]
MUTATION_FIELDS = sorted(SCHEMA.mutation_type.fields)  # type: ignore[union-attr]
QUERY_TEMPLATES = templates(SCHEMA.query_type, "query")  # type: ignore[arg-type]
MUTATION_TEMPLATES = templates(SCHEMA.mutation_type, "mutation")  # type: ignore[arg-type]
SUBSCRIPTION_TEMPLATES = templates(SCHEMA.subscription_type, "subscription")  # type: ignore[arg-type]


def requests_with_variables(
    world: World, pool: list[Template]
) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    def values(template: Template) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        given = {a: variable_value(world, t, a) for a, t in template.arguments.items()}
        required = {a for a, t in template.arguments.items() if graphql.is_non_null_type(t)}
        variables = st.one_of(
            *[
                st.fixed_dictionaries(
                    {a: v for a, v in given.items() if a in required},
                    optional={a: v for a, v in given.items() if a not in required},
                )
            ]
            * 9,
            st.fixed_dictionaries({}, optional=given),  # a required one missing, maybe
        )
        return st.tuples(st.just(template.document), variables)

    return st.sampled_from(pool).flatmap(values)


# ---- the check -----------------------------------------------------------------------------


def body_of(query: str, variables: dict[str, Any] | None) -> bytes:
    # ensure_ascii keeps lone surrogates escaped, as a hostile client may send them
    return json.dumps({"query": query, "variables": variables}, ensure_ascii=True).encode()


def outcome(response: httpx.Response) -> str:
    """A label for Hypothesis' statistics (--hypothesis-show-statistics)."""
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return f"HTTP {response.status_code}"
    codes = sorted({str((e.get("extensions") or {}).get("code")) for e in errors})
    return f"HTTP {response.status_code} " + (" ".join(codes) or "data")


def problems(response: httpx.Response) -> list[str]:
    """What in a response breaks the contract; empty when nothing does."""
    if response.status_code >= 500:
        return [f"HTTP {response.status_code}: {response.text[:500]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"not JSON (HTTP {response.status_code}): {response.text[:500]}"]
    found = []
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        message = str(error.get("message"))
        if code not in CODES:
            found.append(f"code {code}: {error}")
        elif error.get("path") and any(fault in message for fault in EXECUTION_FAULTS):
            found.append(f"an execution fault passed as {code}: {error}")
    return found


@dataclass(frozen=True)
class Sent:
    """How a document goes: who signs in, which media type is asked for, GET or POST, and
    how many copies at once (the same mutation racing itself)."""

    token: str | None
    accept: str | None
    get: bool
    copies: int


def sending(world: World, *, query: bool) -> st.SearchStrategy[Sent]:
    return st.builds(
        Sent,
        token=st.sampled_from([0, 0, 0, 1, 2, 3]).map(world.token),
        accept=st.sampled_from([None, "application/json", "application/graphql-response+json"]),
        get=st.booleans() if query else st.just(False),
        copies=st.sampled_from([1, 1, 1, 2, 3]),
    )


async def send(
    client: httpx.AsyncClient, how: Sent, query: str, variables: dict[str, Any] | None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if how.token:
        headers["authorization"] = f"Bearer {how.token}"
    if how.accept:
        headers["accept"] = how.accept
    if how.get:
        params = {"query": query, "variables": json.dumps(variables, ensure_ascii=True)}
        # a lone surrogate goes as the bytes a careless client sends: invalid UTF-8
        encoded = urllib.parse.urlencode(params, encoding="utf-8", errors="surrogatepass")
        return await client.get(f"/graphql?{encoded}", headers=headers)
    return await client.post("/graphql", content=body_of(query, variables), headers=headers)


async def leaked_connections(app: Starlette) -> int:
    """Database connections still checked out once a request has been answered."""
    pool = app.state.db.engine.pool
    for _ in range(50):
        if not pool.checkedout():
            return 0
        await asyncio.sleep(0.01)
    return int(pool.checkedout())


async def check(
    client: httpx.AsyncClient, how: Sent, query: str, variables: dict[str, Any] | None
) -> None:
    try:
        responses = await asyncio.gather(
            *(send(client, how, query, variables) for _ in range(how.copies))
        )
    except asyncio.CancelledError as cancelled:  # not an Exception: Hypothesis would not shrink
        raise AssertionError(f"the request died of CancelledError:\n{query}") from cancelled
    found = [problem for response in responses for problem in problems(response)]
    event(outcome(responses[0]))
    app = client._transport.app  # type: ignore[attr-defined]
    if leaked := await leaked_connections(app):
        found.append(f"{leaked} database connection(s) still checked out after the response")
    assert not found, "\n".join([query, json.dumps(variables, ensure_ascii=True), *found])


# ---- the tests -------------------------------------------------------------------------------


@settings(FUZZ, max_examples=QUERY_EXAMPLES)
@given(data=st.data())
async def test_generated_queries(
    client: httpx.AsyncClient, world: World, data: st.DataObject
) -> None:
    fields = data.draw(st.one_of(st.none(), st.sampled_from(QUERY_FIELDS).map(lambda f: [f])))
    strategy = queries(SCHEMA, fields=fields, custom_scalars=literal_scalars(world))
    document = data.draw(strategy, "query")
    await check(client, data.draw(sending(world, query=True), "sent"), document, None)


@settings(FUZZ, max_examples=MUTATION_EXAMPLES)
@given(data=st.data())
async def test_generated_mutations(
    client: httpx.AsyncClient, world: World, data: st.DataObject
) -> None:
    fields = data.draw(
        st.one_of(st.none(), *[st.sampled_from(MUTATION_FIELDS).map(lambda f: [f])] * 3)
    )
    strategy = mutations(SCHEMA, fields=fields, custom_scalars=literal_scalars(world))
    document = data.draw(strategy, "mutation")
    await check(client, data.draw(sending(world, query=False), "sent"), document, None)


@settings(FUZZ, max_examples=VARIABLE_EXAMPLES)
@given(data=st.data())
async def test_hostile_variables(
    client: httpx.AsyncClient, world: World, data: st.DataObject
) -> None:
    pool = QUERY_TEMPLATES + MUTATION_TEMPLATES
    document, variables = data.draw(requests_with_variables(world, pool), "request")
    await check(client, data.draw(sending(world, query=False), "sent"), document, variables)


@settings(FUZZ, max_examples=NEGATIVE_EXAMPLES)
@given(data=st.data())
async def test_invalid_documents(
    client: httpx.AsyncClient, world: World, data: st.DataObject
) -> None:
    strategy = queries(SCHEMA, mode=Mode.NEGATIVE) | mutations(SCHEMA, mode=Mode.NEGATIVE)
    document = data.draw(strategy, "document")
    how = Sent(world.viewer.token, None, get=False, copies=1)
    response = await send(client, how, document, None)
    assert not problems(response), (document, response.text)
    codes = {e["extensions"]["code"] for e in response.json().get("errors", [])}
    assert codes and codes <= {"GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_COMPLEX"}, response.text


# ---- subscriptions, over a WebSocket -------------------------------------------------------

SUBSCRIPTION_FIELDS = sorted(SCHEMA.subscription_type.fields)  # type: ignore[union-attr]
# the Subscription root as a query root, so that hypothesis-graphql writes its selections
AS_QUERY = graphql.GraphQLSchema(
    query=SCHEMA.subscription_type, types=list(SCHEMA.type_map.values())
)
ANSWER_WAIT = 0.25  # an error comes at once; a valid subscription stays silent


class Sockets:
    """One open socket per sign-in (viewer, nobody, another user), reopened when closed."""

    def __init__(self, base_url: str, world: World) -> None:
        self.base_url, self.world = base_url, world
        self.open: dict[int, Socket] = {}

    async def get(self, choice: int) -> Socket:
        socket = self.open.get(choice)
        if socket is None or socket.connection.close_code is not None:
            socket = await Socket.open(self.base_url, self.world.token(choice))
            self.open[choice] = socket
        return socket

    async def close(self) -> None:
        for socket in self.open.values():
            await socket.close()


@pytest.fixture(scope="module")
async def sockets(live_server: str, world: World) -> AsyncIterator[Sockets]:
    opened = Sockets(live_server, world)
    yield opened
    await opened.close()


def subscription_requests(world: World) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    def generated(field: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        documents = queries(AS_QUERY, fields=[field], custom_scalars=literal_scalars(world))
        return documents.map(lambda document: ("subscription " + document, {}))

    return st.one_of(
        st.sampled_from(SUBSCRIPTION_FIELDS).flatmap(generated),
        requests_with_variables(world, SUBSCRIPTION_TEMPLATES),
    )


async def answer(socket: Socket, operation: str) -> dict[str, Any] | None:
    """The first message for `operation` (others' late `complete` are skipped); None when
    none comes in ANSWER_WAIT, as for a valid subscription that nothing has happened to."""
    deadline = time.monotonic() + ANSWER_WAIT
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await socket.receive(wait=left)
        except TimeoutError:
            return None
        if message.get("id") == operation:
            return message
    return None


@settings(FUZZ, max_examples=SUBSCRIPTION_EXAMPLES)
@given(data=st.data())
async def test_generated_subscriptions(sockets: Sockets, world: World, data: st.DataObject) -> None:
    document, variables = data.draw(subscription_requests(world), "subscription")
    socket = await sockets.get(data.draw(st.sampled_from([0, 0, 1, 3]), "sign-in"))
    operation = await socket.subscribe(document, variables)
    found = []
    try:
        message = await answer(socket, operation)
    except websockets.ConnectionClosed as closed:
        found.append(f"the socket closed: {closed}")
        message = None
    event(message["type"] if message else "silent")
    if message is not None:
        payload = message.get("payload")
        errors = payload if isinstance(payload, list) else (payload or {}).get("errors") or []
        for error in errors:
            code = (error.get("extensions") or {}).get("code")
            if code not in CODES:
                found.append(f"code {code}: {error}")
    if socket.connection.close_code is None:
        await socket.send({"id": operation, "type": "complete"})
    assert not found, "\n".join([document, json.dumps(variables, ensure_ascii=True), *found])
