"""Sign-up, sign-in, profiles."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.context import Info
from schema.inputs import LoginInput, RegisterInput, UpdateProfileInput
from schema.users import User, optional
from services import accounts
from views import users as views


@strawberry.type(description="What register, login and changePassword return.")
class AuthPayload:
    token: str = strawberry.field(
        description=(
            "A bearer token for the Authorization header and the WebSocket connection_init payload."
        )
    )
    user: User = strawberry.field(description="The signed-in user.")


async def register(
    info: Info,
    input: Annotated[RegisterInput, strawberry.argument(description="The new account.")],
) -> AuthPayload:
    async with info.context.work() as work:
        user = await accounts.register(
            work,
            handle=input.handle,
            password=input.password,
            display_name=input.display_name,
        )
    return await _signed_in(info, user.id, user.token_generation)


async def login(
    info: Info,
    input: Annotated[LoginInput, strawberry.argument(description="The credentials.")],
) -> AuthPayload:
    async with info.context.work() as work:
        user = await accounts.authenticate(
            work.session, info.context.limiter, handle=input.handle, password=input.password
        )
    return await _signed_in(info, user.id, user.token_generation)


async def change_password(
    info: Info,
    current_password: Annotated[
        str, strawberry.argument(description="The password now, to prove it is the owner.")
    ],
    new_password: Annotated[str, strawberry.argument(description="As for register.")],
) -> AuthPayload:
    async with info.context.work() as work:
        user = await accounts.change_password(
            work,
            user_id=info.context.viewer(),
            current_password=current_password,
            new_password=new_password,
        )
    return await _signed_in(info, user.id, user.token_generation)


async def update_profile(
    info: Info,
    input: Annotated[UpdateProfileInput, strawberry.argument(description="The fields to change.")],
) -> User:
    async with info.context.work() as work:
        await accounts.update_profile(
            work,
            user_id=info.context.viewer(),
            display_name=input.display_name,
            bio=input.bio,
        )
    return User.from_row(await views.existing(info.context.loaders, info.context.viewer()))


async def viewer(info: Info) -> User | None:
    if info.context.viewer_id is None:
        return None
    return optional(await views.user(info.context.loaders, info.context.viewer_id))


async def user(
    info: Info,
    handle: Annotated[str, strawberry.argument(description="The handle, in any case.")],
) -> User | None:
    return optional(await views.by_handle(info.context.loaders, handle))


async def _signed_in(info: Info, user_id: int, generation: int) -> AuthPayload:
    await info.context.remember_write(user_id)  # the token's requests see the account
    return AuthPayload(
        token=info.context.tokens.issue(user_id, generation=generation),
        user=User.from_row(await views.existing(info.context.loaders, user_id)),
    )
