"""Sign-up, sign-in, profiles."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.errors import NotFound
from schema.context import HasContext, Info
from schema.inputs import LoginInput, RegisterInput, UpdateProfileInput
from schema.users import User, load_user
from services import accounts


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
    async with info.context.transaction() as session:
        user = await accounts.register(
            session,
            handle=input.handle,
            password=input.password,
            display_name=input.display_name,
        )
    return await _signed_in(info, user.id, user.token_generation)


async def login(
    info: Info,
    input: Annotated[LoginInput, strawberry.argument(description="The credentials.")],
) -> AuthPayload:
    async with info.context.transaction() as session:
        user = await accounts.authenticate(
            session, info.context.limiter, handle=input.handle, password=input.password
        )
    return await _signed_in(info, user.id, user.token_generation)


async def change_password(
    info: Info,
    current_password: Annotated[
        str, strawberry.argument(description="The password now, to prove it is the owner.")
    ],
    new_password: Annotated[str, strawberry.argument(description="As for register.")],
) -> AuthPayload:
    async with info.context.transaction() as session:
        user = await accounts.change_password(
            session,
            user_id=info.context.viewer(),
            current_password=current_password,
            new_password=new_password,
        )
    return await _signed_in(info, user.id, user.token_generation)


async def update_profile(
    info: Info,
    input: Annotated[UpdateProfileInput, strawberry.argument(description="The fields to change.")],
) -> User:
    async with info.context.transaction() as session:
        await accounts.update_profile(
            session,
            user_id=info.context.viewer(),
            display_name=input.display_name,
            bio=input.bio,
        )
    return await reloaded_user(info, info.context.viewer())


async def viewer(info: Info) -> User | None:
    if info.context.viewer_id is None:
        return None
    return await load_user(info, info.context.viewer_id)


async def user(
    info: Info,
    handle: Annotated[str, strawberry.argument(description="The handle, in any case.")],
) -> User | None:
    row = await info.context.loaders.users_by_handle.load(handle)
    return User.from_row(row) if row else None


async def reloaded_user(info: HasContext, user_id: int) -> User:
    info.context.after_write()
    found = await load_user(info, user_id)
    if found is None:
        raise NotFound("No such user.")
    return found


async def _signed_in(info: Info, user_id: int, generation: int) -> AuthPayload:
    return AuthPayload(
        token=info.context.tokens.issue(user_id, generation=generation),
        user=await reloaded_user(info, user_id),
    )
