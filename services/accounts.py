"""Accounts: sign-up, sign-in, passwords, profiles."""

from __future__ import annotations

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import ids
from core.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from core.security import hash_password, verify_password
from core.text import check_handle, clean_text, is_handle
from models import User
from services.events import PasswordChanged, UserChanged
from services.rate_limits import LOGIN_FAILURES, Limiter
from services.work import Work

PASSWORD_MIN = 8
PASSWORD_MAX = 1024
DISPLAY_NAME_MAX = 50
BIO_MAX = 160


def _check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise BadUserInput(f"A password is {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
    clean_text(password, field="password", max_length=PASSWORD_MAX)


def _display_name(value: str) -> str:
    return clean_text(value, field="displayName", max_length=DISPLAY_NAME_MAX)


async def register(work: Work, *, handle: str, password: str, display_name: str | None) -> User:
    check_handle(handle)
    _check_password(password)
    name = _display_name(display_name) if display_name is not None else handle
    user_id = ids.new_id()
    inserted = await work.session.scalar(
        insert(User)
        .values(
            id=user_id,
            handle=handle,
            display_name=name,
            bio="",
            password_hash=await hash_password(password),
            created_at=ids.snowflake_time(user_id),
        )
        .on_conflict_do_nothing(index_elements=[func.lower(text("handle"))])
        .returning(User.id)
    )
    if inserted is None:
        raise Conflict("That handle is taken.")
    work.record(UserChanged(user_id))
    return await _get(work.session, user_id)


async def authenticate(
    session: AsyncSession, limiter: Limiter, *, handle: str, password: str
) -> User:
    """The user with these credentials; the same error for an unknown handle or a wrong password.
    A handle with too many recent failures is refused before its password is even checked."""
    # no account has a malformed handle: nothing to protect, and no key made of arbitrary text
    failures = handle.lower() if is_handle(handle) else None
    if failures is not None:
        # every attempt takes its unit before the password is checked, so concurrent attempts
        # cannot all pass the limit; a success gives it back: only failures count
        await limiter.enforce(LOGIN_FAILURES, failures, rate=limiter.login_failures)
    user = await user_by_handle(session, handle)
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        raise Unauthenticated("Wrong handle or password.")
    if user.suspended_at is not None:
        raise Forbidden("This account is suspended.")
    if failures is not None:
        await limiter.give_back(LOGIN_FAILURES, failures, rate=limiter.login_failures)
    return user


async def change_password(
    work: Work, *, user_id: int, current_password: str, new_password: str
) -> User:
    """Sets a new password and raises the token generation: every earlier token is revoked."""
    session = work.session
    user = await session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None or not await verify_password(user.password_hash, current_password):
        raise Unauthenticated("Wrong password.")
    _check_password(new_password)
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            password_hash=await hash_password(new_password),
            token_generation=User.token_generation + 1,
        )
    )
    work.record(PasswordChanged(user_id))
    return await _get(session, user_id)


async def update_profile(
    work: Work, *, user_id: int, display_name: str | None, bio: str | None
) -> User:
    values: dict[str, str] = {}
    if display_name is not None:
        values["display_name"] = _display_name(display_name)
    if bio is not None:
        values["bio"] = clean_text(bio, field="bio", max_length=BIO_MAX, allow_empty=True)
    if values:
        await work.session.execute(update(User).where(User.id == user_id).values(**values))
        work.record(UserChanged(user_id))
    return await _get(work.session, user_id)


async def user_by_handle(session: AsyncSession, handle: str) -> User | None:
    if not is_handle(handle):
        return None
    return await session.scalar(select(User).where(func.lower(User.handle) == handle.lower()))


async def _get(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id, populate_existing=True)
    if user is None:
        raise NotFound("No such user.")
    return user
