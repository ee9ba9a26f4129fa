"""Mutes and muted words: private to the muter, lapsing by themselves (CONTRACT.md, "Safety")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core import ids
from core.errors import BadUserInput, NotFound
from core.pagination import Keyset, Page
from core.text import clean_text
from models import Mute, MutedWord, User
from services.events import MuteChanged, MutedWordsChanged
from services.work import Work

EXPIRES_MIN = 60  # seconds
EXPIRES_MAX = 10 * 365 * 24 * 3600
WORDS_MAX = 100  # muted words a user
WORD_MAX = 100  # characters
MUTES = "mute"  # the cursor scope


def _expiry(expires_in: int | None) -> datetime | None:
    if expires_in is None:
        return None
    if not EXPIRES_MIN <= expires_in <= EXPIRES_MAX:
        raise BadUserInput(f"expiresIn is {EXPIRES_MIN} to {EXPIRES_MAX} seconds, or null.")
    return datetime.now(UTC) + timedelta(seconds=expires_in)


async def mute(work: Work, *, actor_id: int, user_id: int, expires_in: int | None) -> int:
    """Idempotent; a new expiry replaces the old one."""
    if actor_id == user_id:
        raise BadUserInput("You cannot mute yourself.")
    expires_at = _expiry(expires_in)
    mute_id = ids.new_id()
    statement = insert(Mute).values(
        muter_id=actor_id,
        muted_id=user_id,
        id=mute_id,
        created_at=ids.snowflake_time(mute_id),
        expires_at=expires_at,
    )
    await work.session.execute(  # a lapsed mute muted again is new: its place in the list too
        statement.on_conflict_do_update(
            index_elements=["muter_id", "muted_id"],
            set_={"expires_at": expires_at},
        )
    )
    work.record(MuteChanged(actor_id, user_id, muting=True))
    return user_id


async def unmute(work: Work, *, actor_id: int, user_id: int) -> int:
    if await work.session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise NotFound("No such user.")
    removed = await work.session.scalar(
        delete(Mute).where(Mute.muter_id == actor_id, Mute.muted_id == user_id).returning(Mute.id)
    )
    if removed is not None:
        work.record(MuteChanged(actor_id, user_id, muting=False))
    return user_id


def normalized_word(word: str) -> str:
    """Lower-case and trimmed; `#tag` keeps its #. BAD_USER_INPUT when empty or too long."""
    cleaned = clean_text(word, field="word", max_length=WORD_MAX).lower()
    if cleaned == "#" or "\n" in cleaned or "\t" in cleaned:
        raise BadUserInput("A muted word is one line of text, or #hashtag.")
    return cleaned


async def mute_word(work: Work, *, user_id: int, word: str, expires_in: int | None) -> int:
    """Muting a word already muted replaces its expiry. At most WORDS_MAX words a user."""
    word, expires_at = normalized_word(word), _expiry(expires_in)
    session = work.session
    await session.execute(
        select(User.id).where(User.id == user_id).with_for_update()  # one count at a time
    )
    count = await session.scalar(
        select(func.count()).where(
            MutedWord.user_id == user_id, _in_force(MutedWord.expires_at), MutedWord.word != word
        )
    )
    if (count or 0) >= WORDS_MAX:
        raise BadUserInput(f"At most {WORDS_MAX} muted words.")
    word_id = ids.new_id()
    kept = await session.scalar(
        insert(MutedWord)
        .values(
            id=word_id,
            user_id=user_id,
            word=word,
            created_at=ids.snowflake_time(word_id),
            expires_at=expires_at,
        )
        .on_conflict_do_update(index_elements=["user_id", "word"], set_={"expires_at": expires_at})
        .returning(MutedWord.id)
    )
    work.record(MutedWordsChanged(user_id))
    return int(kept or word_id)


async def unmute_word(work: Work, *, user_id: int, word_id: int) -> int:
    removed = await work.session.scalar(
        delete(MutedWord)
        .where(MutedWord.id == word_id, MutedWord.user_id == user_id)
        .returning(MutedWord.id)
    )
    if removed is None:
        raise NotFound("No such muted word.")
    work.record(MutedWordsChanged(user_id))
    return word_id


def _in_force(expires_at: Any) -> Any:
    return or_(expires_at.is_(None), expires_at > func.now())


async def muted_page(
    connection: AsyncConnection, *, viewer_id: int, first: int | None, after: str | None
) -> Page:
    """Accounts the viewer mutes, newest mute first; lapsed ones are gone."""
    return await _MUTED.page(connection, first=first, after=after, viewer=viewer_id)


_MUTED = Keyset(
    select(Mute.id, Mute.muted_id).where(
        Mute.muter_id == bindparam("viewer", type_=BigInteger), _in_force(Mute.expires_at)
    ),
    key=Mute.id,
    scope=MUTES,
)


async def muted_words(connection: AsyncConnection, *, viewer_id: int) -> list[Any]:
    """The viewer's muted words in force, newest first."""
    query = (
        select(MutedWord.id, MutedWord.word, MutedWord.expires_at)
        .where(MutedWord.user_id == viewer_id, _in_force(MutedWord.expires_at))
        .order_by(MutedWord.id.desc())
    )
    return list((await connection.execute(query)).all())


async def muted_word(connection: AsyncConnection, *, user_id: int, word_id: int) -> Any | None:
    query = select(MutedWord.id, MutedWord.word, MutedWord.expires_at).where(
        MutedWord.id == word_id, MutedWord.user_id == user_id, _in_force(MutedWord.expires_at)
    )
    return (await connection.execute(query)).first()
