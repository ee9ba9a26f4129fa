"""Search in PostgreSQL: tweets by words, "quoted phrases", #hashtags and @handles, all of
them required, newest first; users by handle and display name, best match first.

Any text is a valid query: what is not a hashtag, a mention or a phrase is a word, words are
matched whole (the 'simple' text search configuration: no stemming, any language), and a
query with nothing to match finds nothing. Only length is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Integer,
    SQLColumnExpression,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import TypeEngine

from core import cursors, text
from core.errors import BadUserInput
from core.pagination import Page, check_first
from models import Tweet, User
from services.timelines import TWEETS

QUERY_MAX = 500  # characters
SCAN_WINDOW = 20_000  # newest tweets read in order before the indexes alone are asked
USERS = "user-search"
_TOKEN = re.compile(r'"([^"]*)"?|([^\s"]+)')  # a phrase (the closing quote may be missing), a word
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
_TEXT_ARRAY: TypeEngine[Any] = ARRAY(Text)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TIER = 10_000_000  # score steps: exact handle, handle prefix, name prefix; then similarity


@dataclass
class Terms:
    words: list[str] = field(default_factory=list)  # and phrases, as websearch_to_tsquery reads
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)


def parse(query: str) -> Terms:
    query = cleaned(query)
    terms = Terms()
    for match in _TOKEN.finditer(query):
        phrase, token = match.groups()
        tags = text.hashtags(token) if token and token.startswith("#") else []
        handles = text.mentions(token) if token and token.startswith("@") else []
        if tags or handles:
            terms.hashtags += tags
            terms.mentions += handles
        elif (phrase or token or "").strip():
            terms.words.append(f'"{phrase or token}"')  # quoted: operators in it are words
    return terms


async def tweets(
    connection: AsyncConnection, *, query: str, first: int | None, after: str | None
) -> Page:
    """Two tries, each bounded: the newest tweets in id order, which fills a page of a common
    term at once; then, when they held too few, the GIN indexes alone, which find a rare term
    (a phrase of common words, say) without walking the whole table backwards."""
    terms = parse(query)
    first = check_first(first)
    before = cursors.decode(after, TWEETS)[0] if after is not None else None
    if not (terms.words or terms.hashtags or terms.mentions):
        return Page([], [], has_next=False, has_previous=after is not None)
    newest = select(Tweet.id, Tweet.search, Tweet.hashtags, Tweet.mentions)
    if before is not None:
        newest = newest.where(Tweet.id < before)
    recent = newest.order_by(Tweet.id.desc()).limit(SCAN_WINDOW).subquery()
    scanned = (
        select(recent.c.id)
        .where(*_matching(terms, recent.c.search, recent.c.hashtags, recent.c.mentions))
        .order_by(recent.c.id.desc())
        .limit(first + 1)
    )
    found = list((await connection.execute(scanned)).scalars())
    if len(found) <= first:
        indexed = select(Tweet.id).where(
            *_matching(terms, Tweet.search, Tweet.hashtags, Tweet.mentions)
        )
        if before is not None:
            indexed = indexed.where(Tweet.id < before)
        by_index = indexed.order_by((Tweet.id + 0).desc()).limit(first + 1)  # + 0: not the pk
        found = list((await connection.execute(by_index)).scalars())
    page = found[:first]
    return Page(
        node_ids=page,
        cursors=[cursors.encode(TWEETS, tweet_id) for tweet_id in page],
        has_next=len(found) > first,
        has_previous=after is not None,
    )


def _matching(
    terms: Terms,
    search: SQLColumnExpression[Any],
    hashtags: SQLColumnExpression[Any],
    mentions: SQLColumnExpression[Any],
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if terms.words:
        tsquery = func.websearch_to_tsquery(_SIMPLE, " ".join(terms.words))
        conditions.append(search.bool_op("@@")(tsquery))
    if terms.hashtags:
        conditions.append(hashtags.bool_op("@>")(_texts(terms.hashtags)))
    if terms.mentions:
        conditions.append(mentions.bool_op("@>")(_texts(terms.mentions)))
    return conditions


async def users(
    connection: AsyncConnection, *, query: str, first: int | None, after: str | None
) -> Page:
    """Handles and names that start with the query first, then by trigram similarity."""
    query = cleaned(query)
    first = check_first(first)
    wanted = query.strip().lstrip("@").lower()
    if not wanted:
        return Page([], [], has_next=False, has_previous=after is not None)
    handle, name = func.lower(User.handle), func.lower(User.display_name)
    q: BindParameter[str] = bindparam("q", wanted)
    prefix = _like_escaped(wanted) + "%"
    score = (
        case((handle == q, 3 * _TIER), else_=0)
        + case((handle.like(prefix, escape="\\"), 2 * _TIER), else_=0)
        + case((name.like(prefix, escape="\\"), _TIER), else_=0)
        + cast(
            func.greatest(func.similarity(handle, q), func.word_similarity(q, name)) * (_TIER - 1),
            Integer,
        )
    ).label("score")
    matches = or_(
        handle.like(prefix, escape="\\"),
        name.like(prefix, escape="\\"),
        handle.bool_op("%")(q),
        q.bool_op("<%")(name),
    )
    found = select(score, User.id).where(matches)
    if after is not None:
        last_score, last_id = cursors.decode(after, USERS, size=2)
        found = found.where(or_(score < last_score, and_(score == last_score, User.id > last_id)))
    rows = (await connection.execute(found.order_by(score.desc(), User.id).limit(first + 1))).all()
    page = rows[:first]
    return Page(
        node_ids=[user_id for _, user_id in page],
        cursors=[cursors.encode(USERS, s, user_id) for s, user_id in page],
        has_next=len(rows) > first,
        has_previous=after is not None,
    )


def _texts(values: list[str]) -> BindParameter[Any]:
    return bindparam(None, values, type_=_TEXT_ARRAY)


def cleaned(query: str) -> str:
    """The query, at most QUERY_MAX characters (else BAD_USER_INPUT), with what no text can
    hold, NUL and lone surrogates (JSON's \\ud800), read as spaces."""
    if len(query) > QUERY_MAX:
        raise BadUserInput(f"A search query is at most {QUERY_MAX} characters.")
    return _UNSTORABLE.sub(" ", query)


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
