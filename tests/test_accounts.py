"""Sign-up, sign-in, tokens and profiles through /graphql."""

from __future__ import annotations

import time

import httpx
import jwt

from tests.graphql import REGISTER, error_code, ok, register, unique_handle

LOGIN = "mutation($input: LoginInput!) { login(input: $input) { token user { handle } } }"
VIEWER = "{ viewer { handle displayName bio followerCount followingCount tweetCount } }"


async def test_register_returns_a_working_token(client: httpx.AsyncClient) -> None:
    account = await register(client)
    data = await ok(client, VIEWER, token=account.token)
    assert data["viewer"] == {
        "handle": account.handle,
        "displayName": account.handle,
        "bio": "",
        "followerCount": 0,
        "followingCount": 0,
        "tweetCount": 0,
    }


async def test_handles_are_unique_without_regard_to_case(client: httpx.AsyncClient) -> None:
    handle = unique_handle("Case")
    await register(client, handle)
    variables = {"input": {"handle": handle.upper(), "password": "long enough"}}
    assert await error_code(client, REGISTER, variables) == "CONFLICT"


async def test_the_stored_spelling_of_a_handle_is_kept(client: httpx.AsyncClient) -> None:
    handle = unique_handle("MiXeD")
    await register(client, handle)
    data = await ok(
        client, "query($h: String!) { user(handle: $h) { handle } }", {"h": handle.lower()}
    )
    assert data["user"]["handle"] == handle


async def test_bad_handles_and_passwords_are_bad_user_input(client: httpx.AsyncClient) -> None:
    for handle, password in [
        ("", "long enough"),
        ("has space", "long enough"),
        ("x" * 16, "long enough"),
        ("émile", "long enough"),
        (unique_handle(), "short"),
        (unique_handle(), "nul\x00byte-password"),
    ]:
        variables = {"input": {"handle": handle, "password": password}}
        assert await error_code(client, REGISTER, variables) == "BAD_USER_INPUT", handle


async def test_login_accepts_the_right_password_in_any_handle_case(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client, password="s3cret password")
    variables = {"input": {"handle": account.handle.upper(), "password": "s3cret password"}}
    data = await ok(client, LOGIN, variables)
    assert data["login"]["user"]["handle"] == account.handle


async def test_failed_login_says_the_same_for_unknown_handle_and_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    wrong = {"input": {"handle": account.handle, "password": "not the password"}}
    unknown = {"input": {"handle": unique_handle(), "password": "not the password"}}
    first = (await client.post("/graphql", json={"query": LOGIN, "variables": wrong})).json()
    second = (await client.post("/graphql", json={"query": LOGIN, "variables": unknown})).json()
    assert first["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert first["errors"][0]["message"] == second["errors"][0]["message"]


async def test_bad_tokens_are_anonymous_never_errors(client: httpx.AsyncClient) -> None:
    account = await register(client)
    expired = jwt.encode(
        {"sub": "1", "iat": 0, "exp": int(time.time()) - 10, "iss": "chirp"},
        "test-secret-of-sufficient-length-for-hs256",
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": "1", "iat": 0, "exp": int(time.time()) + 100, "iss": "chirp"},
        "another-secret-of-sufficient-length-for-hs256",
        algorithm="HS256",
    )
    none_alg = jwt.encode({"sub": "1", "iss": "chirp"}, key=None, algorithm="none")
    for token in [expired, forged, none_alg, account.token[:-3] + "abc", "garbage", "a.b.c"]:
        data = await ok(client, "{ viewer { id } }", token=token)
        assert data["viewer"] is None
        code = await error_code(client, "{ homeTimeline { edges { cursor } } }", token=token)
        assert code == "UNAUTHENTICATED"


async def test_update_profile(client: httpx.AsyncClient) -> None:
    account = await register(client)
    mutation = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { displayName bio } }"
    data = await ok(
        client,
        mutation,
        {"i": {"displayName": "  Ada  ", "bio": "Counts things."}},
        token=account.token,
    )
    assert data["updateProfile"] == {"displayName": "Ada", "bio": "Counts things."}
    data = await ok(client, mutation, {"i": {"bio": ""}}, token=account.token)
    assert data["updateProfile"] == {"displayName": "Ada", "bio": ""}
    assert (
        await error_code(client, mutation, {"i": {"displayName": " "}}, token=account.token)
        == "BAD_USER_INPUT"
    )
    assert await error_code(client, mutation, {"i": {"bio": "x"}}) == "UNAUTHENTICATED"


async def test_unknown_user_is_null(client: httpx.AsyncClient) -> None:
    data = await ok(client, '{ user(handle: "nobody_here_1") { id } }')
    assert data["user"] is None
