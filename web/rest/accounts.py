"""POST /register, POST /login, GET /me, GET /users/{handle}: services/accounts.py behind them."""

from __future__ import annotations

from core.errors import NotFound
from services import accounts
from views import users as views
from web.rest import shapes
from web.rest.bodies import Handle, Login, Register
from web.rest.endpoint import Call


async def register(call: Call, *, body: Register) -> shapes.AuthPayload:
    async with call.context.work() as work:
        user = await accounts.register(
            work,
            handle=body["handle"],
            password=body["password"],
            display_name=body.get("displayName"),
        )
    return await _signed_in(call, user.id, user.token_generation)


async def login(call: Call, *, body: Login) -> shapes.AuthPayload:
    async with call.context.work() as work:
        user = await accounts.authenticate(
            work.session, call.context.limiter, handle=body["handle"], password=body["password"]
        )
    return await _signed_in(call, user.id, user.token_generation)


async def me(call: Call) -> shapes.User:
    return await shapes.user(
        call.context, await views.existing(call.context.loaders, call.viewer())
    )


async def user(call: Call, *, handle: Handle) -> shapes.User:
    row = await views.by_handle(call.context.loaders, handle)
    if row is None:
        raise NotFound("No such user.")
    return await shapes.user(call.context, row)


async def _signed_in(call: Call, user_id: int, generation: int) -> shapes.AuthPayload:
    await call.context.remember_write(user_id)  # the token's requests see the account
    token = call.context.tokens.issue(user_id, generation=generation)
    row = await views.existing(call.context.loaders, user_id)
    return {"token": token, "user": await shapes.user(call.context, row)}
