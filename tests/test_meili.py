"""Meilisearch requests made from queries, and the choice of backend, without a server: the
parts that need one are in tests/test_search_meili.py."""

from __future__ import annotations

import dataclasses
import logging
import socket

import pytest
from starlette.applications import Starlette

from core import cursors
from core.config import Settings
from core.db import Database, RequestReads
from core.errors import BadUserInput
from services import meili, search, search_backends
from services.meili import Meili, quoted, split_id, tweet_search
from services.search import QUERY_MAX, Terms, parse
from services.timelines import TWEETS
from tests.test_search import HOSTILE

NASTY = [
    "",
    '"',
    "\\",
    '\\"',
    '" OR id_high > 0 OR hashtags = "',
    "x' OR '1' = '1",
    'a\\" OR 1 = 1 --',
    "tag) OR (mentions EXISTS",
    "line\nbreak\ttab",
    "🙂 AND NOT",
    "\\\\\\",
]


def unquote(literal: str) -> tuple[str, str]:
    """Reads one double-quoted string as Meilisearch's filter parser does: (value, the rest)."""
    assert literal.startswith('"')
    value, i = [], 1
    while literal[i] != '"':
        if literal[i] == "\\":
            i += 1
        value.append(literal[i])
        i += 1
    return "".join(value), literal[i + 1 :]


def one_condition(expression: str) -> tuple[str, str]:
    """`field = "value"` and nothing after it: (field, value)."""
    field, operator, literal = expression.split(" ", 2)
    assert operator == "="
    value, rest = unquote(literal)
    assert rest == ""
    return field, value


@pytest.mark.parametrize("value", NASTY)
def test_a_quoted_value_stays_one_value(value: str) -> None:
    assert unquote(quoted(value)) == (value, "")
    request = tweet_search(Terms(hashtags=[value], mentions=[value]), before=None)
    assert request is not None
    assert [one_condition(f) for f in request.filter] == [("hashtags", value), ("mentions", value)]


def test_terms_become_a_query_of_phrases_and_filters() -> None:
    request = tweet_search(parse('Alpha "beta  gamma" #Tag @Bob x-y'), before=None)
    assert request is not None
    assert request.query == '"Alpha" "beta  gamma" "x-y"'
    assert [one_condition(f) for f in request.filter] == [("hashtags", "tag"), ("mentions", "bob")]
    assert request.sort == ["id_high:desc", "id_low:desc"]
    assert request.matching_strategy == "all"
    tags_only = tweet_search(parse("#tag"), before=None)
    assert tags_only is not None and tags_only.query is None  # a search by filters alone


def test_queries_that_can_match_nothing_ask_nothing() -> None:
    for query in ["", "   ", '""', '"!!!"', "!!! ?", '"', "#", "@"]:
        assert tweet_search(parse(query), before=None) is None, query
    assert tweet_search(parse("!!! #tag"), before=None) is None  # PostgreSQL finds nothing either


@pytest.mark.parametrize("query", HOSTILE)
def test_any_query_makes_a_well_formed_request(query: str) -> None:
    request = tweet_search(parse(query), before=1 << 60)
    if request is None:
        return
    if request.query is not None:
        assert request.query.count('"') % 2 == 0  # whole phrases: nothing is an operator
        assert request.query.startswith('"') and request.query.endswith('"')
    *terms, keyset = request.filter
    for condition in terms:
        assert one_condition(condition)[0] in ("hashtags", "mentions")
    assert keyset.startswith("id_high < ")


def test_ids_split_into_exact_numbers_that_sort_like_the_ids() -> None:
    base = (1 << 62) + (123 << 22)  # far beyond 2**53, where float64 loses the last digits
    ids = [base - 1, base, base + 1, base + 2, base + (1 << 22)]
    parts = [split_id(i) for i in ids]
    assert all(high < 2**53 and low < 2**53 for high, low in parts)
    assert [(high << 22) | low for high, low in parts] == ids
    assert parts == sorted(parts) and len(set(parts)) == len(ids)
    request = tweet_search(parse("word"), before=base + 1)
    assert request is not None
    high, low = split_id(base + 1)
    assert request.filter == [f"id_high < {high} OR (id_high = {high} AND id_low < {low})"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_cursors_and_limits_are_checked_before_asking_the_server(db: Database) -> None:
    backend = Meili(f"http://127.0.0.1:{closed_port()}")
    reads = RequestReads(db)
    try:
        for method in (backend.tweets, backend.users):
            with pytest.raises(BadUserInput):
                await method(reads, query="x" * (QUERY_MAX + 1), first=5, after=None)
            with pytest.raises(BadUserInput):
                await method(reads, query="x", first=0, after=None)
            with pytest.raises(BadUserInput):
                await method(reads, query="x", first=5, after=cursors.encode(search.USERS, 1, 2))
        with pytest.raises(BadUserInput):  # users' cursors hold an offset, not a tweet id
            await backend.tweets(reads, query="x", first=5, after=cursors.encode(meili.USERS, 3))
        page = await backend.tweets(reads, query='"!!!"', first=5, after=cursors.encode(TWEETS, 9))
        assert page.node_ids == [] and page.has_previous and not page.has_next
    finally:
        await reads.close()
        await backend.close()


async def test_postgresql_unless_search_url_is_set(
    settings: Settings, caplog: pytest.LogCaptureFixture, app: Starlette
) -> None:
    assert isinstance(await search_backends.open_backend(settings), search_backends.PostgresSearch)
    assert isinstance(app.state.search, search_backends.PostgresSearch)  # the app's
    down = dataclasses.replace(settings, search_url=f"http://127.0.0.1:{closed_port()}")
    with caplog.at_level(logging.WARNING):
        backend = await search_backends.open_backend(down)  # starts even so
    try:
        assert isinstance(backend, Meili)
        assert "does not answer" in caplog.text
    finally:
        await backend.close()
