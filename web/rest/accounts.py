"""POST /register, POST /login, GET /users/{handle}: services/accounts.py behind them."""

from __future__ import annotations

from core.errors import NotFound
from resolvers.accounts import reloaded_user
from schema.users import User
from services import accounts
from web.rest import shapes
from web.rest.bodies import Handle, Login, Register
from web.rest.endpoint import Call


async def register(call: Call, *, body: Register) -> shapes.AuthPayload:
    async with call.context.transaction() as session:
        user = await accounts.register(
            session,
            handle=body["handle"],
            password=body["password"],
            display_name=body.get("displayName"),
        )
    return await _signed_in(call, user.id, user.token_generation)


async def login(call: Call, *, body: Login) -> shapes.AuthPayload:
    async with call.context.transaction() as session:
        user = await accounts.authenticate(
            session, call.context.limiter, handle=body["handle"], password=body["password"]
        )
    return await _signed_in(call, user.id, user.token_generation)


async def user(call: Call, *, handle: Handle) -> shapes.User:
    row = await call.context.loaders.users_by_handle.load(handle)
    if row is None:
        raise NotFound("No such user.")
    return await shapes.user(call, User.from_row(row))


async def _signed_in(call: Call, user_id: int, generation: int) -> shapes.AuthPayload:
    token = call.context.tokens.issue(user_id, generation=generation)
    return {"token": token, "user": await shapes.user(call, await reloaded_user(call, user_id))}
