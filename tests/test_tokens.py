"""Bearer tokens: key rotation by kid, clock-skew leeway, issuer and audience, and revocation
by a password change on HTTP and WebSocket."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest
import websockets
from sqlalchemy import delete

from core.config import Settings
from core.db import Database
from core.ids import expect_global_id
from core.security import TokenCodec
from models import User
from tests import rest
from tests.graphql import POST, Account, error_code, ok, register
from tests.ws import Socket
from web import websocket

OLD, NEW = ("old", "old-secret-of-sufficient-length-for-hs256"), ("new", "new-secret-x" * 4)
CHANGE = """
mutation($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { token user { handle } }
}
"""
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { token } }"
VIEWER = "{ viewer { handle } }"
HOME = "subscription { homeTimeline { cursor } }"
TIMELINE = "{ homeTimeline(first: 1) { edges { cursor } } }"
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { id } }"
PROFILE = 'mutation { updateProfile(input: {bio: "b"}) { bio } }'


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "42", "iat": now, "exp": now + 600, "iss": "chirp", "aud": "chirp-api"}
    return claims | {"gen": 0} | changes


def _signed(key: tuple[str, str], claims: dict[str, Any]) -> str:
    kid, secret = key
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})


def test_the_first_key_signs_and_every_listed_key_verifies() -> None:
    before = TokenCodec(keys=(OLD,))
    during = TokenCodec(keys=(NEW, OLD))
    after = TokenCodec(keys=(NEW,))
    old_token = before.issue(42)
    new_token = during.issue(42)
    assert jwt.get_unverified_header(new_token)["kid"] == "new"
    assert during.user_id(old_token) == 42 and during.user_id(new_token) == 42
    assert after.user_id(new_token) == 42
    assert after.user_id(old_token) is None  # the old key was removed


def test_an_unknown_or_missing_kid_is_refused() -> None:
    codec = TokenCodec(keys=(NEW, OLD))
    assert codec.user_id(_signed(("other", NEW[1]), _claims())) is None
    assert codec.user_id(jwt.encode(_claims(), NEW[1], algorithm="HS256")) is None
    assert codec.user_id(_signed(("old", NEW[1]), _claims())) is None  # kid and key disagree


def test_expiry_allows_the_leeway_and_no_more() -> None:
    codec = TokenCodec(keys=(OLD,), leeway_seconds=30)
    now = int(time.time())
    assert codec.user_id(_signed(OLD, _claims(iat=now - 700, exp=now - 10))) == 42
    assert codec.user_id(_signed(OLD, _claims(iat=now - 700, exp=now - 60))) is None
    assert codec.user_id(_signed(OLD, _claims(iat=now + 10))) == 42  # the issuer's clock ahead
    assert codec.user_id(_signed(OLD, _claims(iat=now + 120))) is None


def test_a_token_verified_before_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = TokenCodec(keys=(OLD,), leeway_seconds=30)
    now = time.time()
    token = _signed(OLD, _claims(iat=int(now) - 10, exp=int(now) + 60))
    assert codec.user_id(token) == 42
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: pytest.fail("verified again"))
    assert codec.user_id(token) == 42  # kept: not decoded again
    monkeypatch.undo()
    monkeypatch.setattr(time, "time", lambda: now + 60 + 31)
    assert codec.user_id(token) is None  # past exp and the leeway: kept, yet refused


def test_issuer_and_audience_must_match() -> None:
    codec = TokenCodec(keys=(OLD,))
    assert codec.user_id(_signed(OLD, _claims())) == 42
    assert codec.user_id(_signed(OLD, _claims(iss="someone-else"))) is None
    assert codec.user_id(_signed(OLD, _claims(aud="another-api"))) is None
    assert codec.user_id(_signed(OLD, _claims(aud=["another-api"]))) is None
    without_audience = _claims()
    del without_audience["aud"]
    assert codec.user_id(_signed(OLD, without_audience)) is None
    assert TokenCodec(keys=(OLD,), audience="another-api").user_id(codec.issue(42)) is None


def test_a_subject_that_is_not_a_user_id_is_refused() -> None:
    codec = TokenCodec(keys=(OLD,))
    assert codec.user_id(_signed(OLD, _claims(sub=str(2**63 - 1)))) == 2**63 - 1
    for sub in (str(2**63), str(2**64), "0", "-1", "042", " 42", "4_2", "+42", "\u0664\u0662"):
        assert codec.user_id(_signed(OLD, _claims(sub=sub))) is None, sub


def test_jwt_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_KEYS", " k2:second , k1:first:with:colons")
    settings = Settings.from_env()
    assert settings.resolved_jwt_keys() == (("k2", "second"), ("k1", "first:with:colons"))
    assert settings.resolved_jwt_secret() == "second"  # JWT_SECRET unset: cursors use it
    monkeypatch.setenv("JWT_SECRET", "before-keys")  # still verifies, listed last
    assert Settings.from_env().resolved_jwt_keys()[:2] == (
        ("k2", "second"),
        ("k1", "first:with:colons"),
    )
    assert (
        Settings.from_env().resolved_jwt_keys()[2]
        == Settings(jwt_secret="before-keys").resolved_jwt_keys()[0]
    )
    assert Settings.from_env().resolved_jwt_secret() == "before-keys"
    for bad in ("k1", "k1:", ":secret", "k1:a,k1:b"):
        monkeypatch.setenv("JWT_KEYS", bad)
        with pytest.raises(ValueError):
            Settings.from_env().resolved_jwt_keys()


def test_one_secret_is_one_key_with_a_kid_derived_from_it() -> None:
    [(kid, secret)] = Settings(jwt_secret="s" * 40).resolved_jwt_keys()
    assert secret == "s" * 40 and kid == Settings(jwt_secret="s" * 40).resolved_jwt_keys()[0][0]
    assert kid != Settings(jwt_secret="t" * 40).resolved_jwt_keys()[0][0]
    token = TokenCodec.for_secret("s" * 40).issue(7)
    assert jwt.get_unverified_header(token)["kid"] == kid


async def test_the_app_accepts_its_own_keys_only(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    user_id = expect_global_id(account.id, "User")
    mine = TokenCodec.from_settings(settings).issue(user_id)
    assert (await ok(client, VIEWER, token=mine))["viewer"]["handle"] == account.handle
    other_kid = TokenCodec(keys=(("elsewhere", settings.jwt_secret or ""),)).issue(user_id)
    foreign_audience = replace(TokenCodec.from_settings(settings), audience="x").issue(user_id)
    for token in (other_kid, foreign_audience):
        assert (await ok(client, VIEWER, token=token))["viewer"] is None


async def _change(client: httpx.AsyncClient, account: Account, current: str, new: str) -> str:
    data = await ok(client, CHANGE, {"current": current, "new": new}, token=account.token)
    assert data["changePassword"]["user"]["handle"] == account.handle
    token: str = data["changePassword"]["token"]
    return token


async def test_change_password_revokes_earlier_tokens_on_http(client: httpx.AsyncClient) -> None:
    account = await register(client, password="first password")
    login = {"input": {"handle": account.handle, "password": "first password"}}
    other = (await ok(client, LOGIN, login))["login"]["token"]
    assert (await ok(client, VIEWER, token=account.token))["viewer"]  # cached as current
    fresh = await _change(client, account, "first password", "second password")
    for old in (account.token, other):
        assert (await ok(client, VIEWER, token=old))["viewer"] is None
        assert await error_code(client, CHANGE, {"current": "x", "new": "y"}, token=old) == (
            "UNAUTHENTICATED"
        )
    assert (await ok(client, VIEWER, token=fresh))["viewer"]["handle"] == account.handle
    assert await error_code(client, LOGIN, login) == "UNAUTHENTICATED"
    login["input"]["password"] = "second password"
    again = (await ok(client, LOGIN, login))["login"]["token"]
    assert (await ok(client, VIEWER, token=again))["viewer"]["handle"] == account.handle


async def test_change_password_refusals(client: httpx.AsyncClient) -> None:
    account = await register(client, password="first password")
    variables = {"current": "not the password", "new": "second password"}
    assert await error_code(client, CHANGE, variables, token=account.token) == "UNAUTHENTICATED"
    variables = {"current": "first password", "new": "short"}
    assert await error_code(client, CHANGE, variables, token=account.token) == "BAD_USER_INPUT"
    variables = {"current": "first password", "new": "second password"}
    assert await error_code(client, CHANGE, variables) == "UNAUTHENTICATED"  # not signed in
    # nothing changed: the token and the password still work
    assert (await ok(client, VIEWER, token=account.token))["viewer"]
    await _change(client, account, "first password", "second password")


async def test_change_password_refuses_old_tokens_on_a_new_websocket(
    client: httpx.AsyncClient, live_server: str
) -> None:
    account = await register(client, password="first password")
    await (await Socket.open(live_server, account.token)).close()  # accepted before
    fresh = await _change(client, account, "first password", "second password")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await Socket.open(live_server, account.token)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == websocket.FORBIDDEN
    socket = await Socket.open(live_server, fresh)
    await socket.subscribe(HOME)
    assert await socket.silent(0.3)  # subscribed, not closed
    await socket.close()


async def test_change_password_closes_open_sockets_within_the_recheck(
    client: httpx.AsyncClient, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websocket, "RECHECK_SECONDS", 0.2)
    account = await register(client, password="first password")
    socket = await Socket.open(live_server, account.token)
    await socket.subscribe(HOME)
    assert await socket.silent(0.5)  # checked a few times: still current
    await _change(client, account, "first password", "second password")
    assert await socket.closed_with(wait=5) == websocket.FORBIDDEN


async def _refused_everywhere(client: httpx.AsyncClient, live_server: str, token: str) -> None:
    """The token signs nobody in: HTTP GraphQL, REST and WebSocket alike."""
    assert (await ok(client, VIEWER, token=token))["viewer"] is None
    assert await error_code(client, TIMELINE, token=token) == "UNAUTHENTICATED"
    assert await error_code(client, POST, {"input": {"text": "hi"}}, token=token) == (
        "UNAUTHENTICATED"
    )
    stolen = Account(id="", handle="", token=token)
    refused = await rest.failure(client, "POST", "/tweets", stolen, json={"text": "hi"})
    assert refused == (401, "UNAUTHENTICATED")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await Socket.open(live_server, token)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == websocket.FORBIDDEN


async def test_a_subject_beyond_bigint_signs_nobody_in(
    client: httpx.AsyncClient, live_server: str, settings: Settings
) -> None:
    key = TokenCodec.from_settings(settings).keys[0]
    for sub in (str(2**63), str(2**70)):
        await _refused_everywhere(client, live_server, _signed(key, _claims(sub=sub)))


async def _gone(client: httpx.AsyncClient, db: Database) -> tuple[Account, Account]:
    """An account deleted from the database behind the service's back, while its token
    generation is cached as current; and another account, still there."""
    gone, other = await register(client), await register(client)
    assert (await ok(client, VIEWER, token=gone.token))["viewer"]  # cached now
    async with db.transaction() as session:
        await session.execute(delete(User).where(User.id == expect_global_id(gone.id, "User")))
    return gone, other


async def test_the_writes_of_a_user_gone_from_the_database_are_unauthenticated(
    client: httpx.AsyncClient, live_server: str, db: Database
) -> None:
    writes = [
        lambda gone, other: error_code(client, POST, {"input": {"text": "hi"}}, token=gone.token),
        lambda gone, other: error_code(client, FOLLOW, {"id": other.id}, token=gone.token),
        lambda gone, other: error_code(client, PROFILE, token=gone.token),
    ]
    for write in writes:
        gone, other = await _gone(client, db)
        assert await write(gone, other) == "UNAUTHENTICATED"
        await _refused_everywhere(client, live_server, gone.token)  # at once, not after the TTL
    gone, other = await _gone(client, db)
    refused = await rest.failure(client, "POST", "/tweets", gone, json={"text": "hi"})
    assert refused == (401, "UNAUTHENTICATED")
    await _refused_everywhere(client, live_server, gone.token)


async def test_an_open_socket_of_a_user_gone_from_the_database_closes(
    client: httpx.AsyncClient, live_server: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websocket, "RECHECK_SECONDS", 0.2)
    account = await register(client)
    socket = await Socket.open(live_server, account.token)
    await socket.subscribe(HOME)
    async with db.transaction() as session:
        await session.execute(delete(User).where(User.id == expect_global_id(account.id, "User")))
    assert await error_code(client, POST, {"input": {"text": "hi"}}, token=account.token) == (
        "UNAUTHENTICATED"
    )
    assert await socket.closed_with(wait=5) == websocket.FORBIDDEN
