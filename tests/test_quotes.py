"""Quotes (CONTRACT.md, "Posts"): what a quote shows, its count kept exact under races,
deletion and suspension, blocks and mutes on every read path, notifications, REST, live."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy import delete
from starlette.applications import Starlette

from app import create_app
from core.config import Settings
from core.db import Database
from core.ids import expect_global_id, to_global_id
from models import Tweet
from services import moderation
from services.work import unit_of_work
from tests.graphql import Account, error_code, gql, ok, post, register
from tests.rest import failure
from tests.rest import ok as rest_ok
from tests.test_rest_graphql import FULL_TWEET
from tests.test_sql_cost import _drop_cache, counted
from tests.test_timelines import follow, home
from tests.test_work import until_waiting_for_a_lock
from tests.ws import Socket

Settle = Callable[[], Awaitable[int]]
QUOTE = (
    "mutation($text: String!, $q: ID, $key: String) { createTweet(input: "
    "{text: $text, quoteOfId: $q, idempotencyKey: $key}) { id quoteOf { id text } } }"
)
TWEET = """query($id: ID!) { tweet(id: $id) {
  id quoteCount quoteOf { id quoteCount quoteOf { id } }
  quotes(first: 50) { edges { node { id } } pageInfo { hasNextPage endCursor } }
} }"""
QUOTES = """query($id: ID!, $first: Int, $after: String) { tweet(id: $id) {
  quotes(first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }
} }"""
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
BLOCK = "mutation($id: ID!) { block(userId: $id) { id } }"
MUTE = "mutation($id: ID!) { mute(userId: $id) { id } }"
SEARCH = "query($q: String!) { searchTweets(query: $q, first: 50) { edges { node { id } } } }"
PROFILE = "query($h: String!) { user(handle: $h) { tweets(first: 50) { edges { node { id } } } } }"
NOTIFICATIONS = "{ notifications(first: 50) { edges { node { kind actor { id } tweet { id } } } } }"
HOME_QUOTES = """{ homeTimeline(first: 50) { edges { node {
  id quoteCount quoteOf { id text author { id } } retweetOf { id quoteOf { id } }
} } } }"""
BOTH = 'mutation($t: ID!) { createTweet(input: {text: "re", replyToId: $t, quoteOfId: $t}) { id } }'
MISSING = to_global_id("Tweet", 12345)


async def quote(
    client: httpx.AsyncClient, account: Account, quoted: str, text: str = "quoting"
) -> str:
    data = await ok(client, QUOTE, {"text": text, "q": quoted}, token=account.token)
    quote_id: str = data["createTweet"]["id"]
    return quote_id


async def _tweet(client: httpx.AsyncClient, tweet_id: str, viewer: Account | None = None) -> Any:
    return (await ok(client, TWEET, {"id": tweet_id}, token=viewer and viewer.token))["tweet"]


def _ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_a_quote_shows_the_quoted_tweet_and_counts_on_it(client: httpx.AsyncClient) -> None:
    author, quoter = await register(client), await register(client)
    quoted = await post(client, author, "worth quoting")
    made = await ok(client, QUOTE, {"text": "so true", "q": quoted}, token=quoter.token)
    assert made["createTweet"]["quoteOf"] == {"id": quoted, "text": "worth quoting"}
    first = made["createTweet"]["id"]
    second = await quote(client, author, quoted, "quoting myself")  # allowed, counted
    read = await _tweet(client, quoted)
    assert read["quoteCount"] == 2 and read["quoteOf"] is None
    assert _ids(read["quotes"]) == [second, first]  # newest first
    assert (await _tweet(client, first))["quoteOf"] == {
        "id": quoted,
        "quoteCount": 2,
        "quoteOf": None,
    }
    # a quote of a quote: each level reads what it quotes
    third = await quote(client, author, first)
    assert (await _tweet(client, third))["quoteOf"] == {
        "id": first,
        "quoteCount": 1,
        "quoteOf": {"id": quoted},
    }


async def test_quoting_a_retweet_quotes_its_original(client: httpx.AsyncClient) -> None:
    author, fan = await register(client), await register(client)
    original = await post(client, author, "the original")
    shared = (await ok(client, RETWEET, {"id": original}, token=fan.token))["retweet"]["id"]
    assert shared == original  # retweet answers the original; find the retweet row itself
    profile = await ok(client, PROFILE, {"h": fan.handle})
    (retweet_row,) = _ids(profile["user"]["tweets"])
    made = await ok(client, QUOTE, {"text": "via a retweet", "q": retweet_row}, token=fan.token)
    assert made["createTweet"]["quoteOf"]["id"] == original
    assert (await _tweet(client, original))["quoteCount"] == 1


async def test_quoting_bad_input_gets_the_contracts_codes(client: httpx.AsyncClient) -> None:
    author = await register(client)
    quoted = await post(client, author, "q")
    for variables, code in [
        ({"text": "x", "q": MISSING}, "NOT_FOUND"),
        ({"text": "x", "q": "nonsense"}, "BAD_USER_INPUT"),
        ({"text": "x", "q": author.id}, "BAD_USER_INPUT"),  # a user's id
        ({"text": "", "q": quoted}, "BAD_USER_INPUT"),
        ({"text": "x" * 281, "q": quoted}, "BAD_USER_INPUT"),
    ]:
        assert await error_code(client, QUOTE, variables, token=author.token) == code
    assert await error_code(client, QUOTE, {"text": "x", "q": quoted}) == "UNAUTHENTICATED"
    assert (await _tweet(client, quoted))["quoteCount"] == 0
    page = {"id": quoted, "first": 0}
    assert await error_code(client, QUOTES, page) == "BAD_USER_INPUT"
    page = {"id": quoted, "first": 5, "after": "garbage"}
    assert await error_code(client, QUOTES, page) == "BAD_USER_INPUT"


async def test_quotes_page_with_stable_cursors(client: httpx.AsyncClient) -> None:
    author = await register(client)
    quoted = await post(client, author, "popular")
    made = [await quote(client, author, quoted, f"take {n}") for n in range(5)]
    seen, after = [], None
    while True:
        variables = {"id": quoted, "first": 2, "after": after}
        page = (await ok(client, QUOTES, variables))["tweet"]["quotes"]
        seen += _ids(page)
        if len(seen) == 2:
            await quote(client, author, quoted, "posted meanwhile")  # above: never in these pages
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == made[::-1]


async def test_same_idempotency_key_with_another_quote_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    author = await register(client)
    one, two = await post(client, author, "one"), await post(client, author, "two")
    variables = {"text": "same", "q": one, "key": "quote-key-1"}
    first = await ok(client, QUOTE, variables, token=author.token)
    again = await ok(client, QUOTE, variables, token=author.token)
    assert again == first
    other = {**variables, "q": two}
    assert await error_code(client, QUOTE, other, token=author.token) == "CONFLICT"
    assert (await _tweet(client, one))["quoteCount"] == 1


async def test_concurrent_quotes_keep_the_count_exact(client: httpx.AsyncClient) -> None:
    author = await register(client)
    quoters = await asyncio.gather(*(register(client) for _ in range(6)))
    quoted = await post(client, author, "quoted by many at once")
    await _tweet(client, quoted)  # cached: each quote must drop it
    made = await asyncio.gather(*(quote(client, q, quoted, "at once") for q in quoters))
    read = await _tweet(client, quoted)
    assert read["quoteCount"] == 6 and set(_ids(read["quotes"])) == set(made)
    await asyncio.gather(
        *(ok(client, DELETE, {"id": m}, token=q.token) for m, q in zip(made, quoters, strict=True))
    )
    read = await _tweet(client, quoted)
    assert read["quoteCount"] == 0 and read["quotes"]["edges"] == []


async def test_deleting_the_quoted_tweet_leaves_the_quote_quoting_nothing(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    author, quoter = await register(client), await register(client)
    await follow(client, quoter, author)
    quoted = await post(client, author, "soon gone")
    made = await quote(client, quoter, quoted)
    await settle()
    assert (await _tweet(client, made))["quoteOf"]["id"] == quoted  # cached, quoting it
    await ok(client, DELETE, {"id": quoted}, token=author.token)
    await settle()
    read = await _tweet(client, made)
    assert read is not None and read["quoteOf"] is None
    rest = await rest_ok(client, "GET", f"/tweets/{made}")
    assert rest["quoteOf"] is None
    entries = (await ok(client, HOME_QUOTES, token=quoter.token))["homeTimeline"]["edges"]
    assert [(e["node"]["id"], e["node"]["quoteOf"]) for e in entries] == [(made, None)]


async def test_deleting_a_quote_and_its_quoted_tweet_at_once_cannot_deadlock(
    client: httpx.AsyncClient,
) -> None:
    """Deleting the quoted tweet locks it, then its quotes; deleting a quote locks the quoted
    tweet before the quote, in the same order."""
    for _ in range(5):
        author, quoter = await register(client), await register(client)
        quoted = await post(client, author, "racing")
        made = await quote(client, quoter, quoted)
        gone = await asyncio.gather(
            ok(client, DELETE, {"id": quoted}, token=author.token),
            ok(client, DELETE, {"id": made}, token=quoter.token),
        )
        assert [g["deleteTweet"] for g in gone] == [quoted, made]


async def test_a_quote_racing_the_delete_of_its_quoted_tweet_is_not_found(
    client: httpx.AsyncClient, db: Database
) -> None:
    author = await register(client)
    quoted = await post(client, author, "deleted while quoted")
    async with db.transaction() as deleting:
        await deleting.execute(delete(Tweet).where(Tweet.id == expect_global_id(quoted, "Tweet")))
        variables = {"text": "too late", "q": quoted}
        racing = asyncio.create_task(error_code(client, QUOTE, variables, token=author.token))
        await until_waiting_for_a_lock(db)  # the quote counts on the row the delete holds
    assert await racing == "NOT_FOUND"


async def test_suspending_a_quoter_uncounts_its_quotes(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    author, spammer, fan = await register(client), await register(client), await register(client)
    quoted = await post(client, author, "quoted by a spammer")
    spam = await quote(client, spammer, quoted, "spam")
    await post(client, spammer, "a reply that quotes too", reply_to=quoted)
    kept = await quote(client, fan, quoted, "a fan")
    assert (await _tweet(client, quoted))["quoteCount"] == 2  # cached
    async with unit_of_work(app.state.stores) as work:
        await moderation.suspend(work, user_id=expect_global_id(spammer.id, "User"))
    read = await _tweet(client, quoted)
    assert read["quoteCount"] == 1 and _ids(read["quotes"]) == [kept]
    assert await _tweet(client, spam) is None
    # a suspended author's tweet, quoted, is gone from the quote too
    theirs = await post(client, author, "the author's own")
    quoting = await quote(client, fan, theirs)
    async with unit_of_work(app.state.stores) as work:
        await moderation.suspend(work, user_id=expect_global_id(author.id, "User"))
    assert (await _tweet(client, quoting))["quoteOf"] is None


async def test_a_block_forbids_quoting_either_way_and_hides_quotes_of_the_other(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    viewer, other, friend = await register(client), await register(client), await register(client)
    for whom in (other, friend):
        await follow(client, viewer, whom)
    await home(client, viewer)
    mine = await post(client, viewer, "mine")
    theirs = await post(client, other, "theirs quotable")
    friends = await quote(client, friend, theirs, "friend quotes quotable")
    by_other = await quote(client, other, mine, "other quotes quotable")
    await settle()
    assert {friends, by_other} <= set(await home(client, viewer))
    await ok(client, BLOCK, {"id": other.id}, token=viewer.token)
    await settle()
    for account, quoted in [(viewer, theirs), (other, mine)]:
        variables = {"text": "no", "q": quoted}
        assert await error_code(client, QUOTE, variables, token=account.token) == "FORBIDDEN"
    seen = await home(client, viewer)
    assert friends not in seen and by_other not in seen
    found = await ok(client, SEARCH, {"q": "quotable"}, token=viewer.token)
    assert _ids(found["searchTweets"]) == []
    assert _ids((await _tweet(client, mine, viewer))["quotes"]) == []
    assert _ids((await _tweet(client, theirs, viewer))["quotes"]) == []
    profile = await ok(client, PROFILE, {"h": friend.handle}, token=viewer.token)
    assert friends not in _ids(profile["user"]["tweets"])
    # the other side sees no quote of the viewer's tweets either; others see everything
    assert _ids((await _tweet(client, mine, other))["quotes"]) == []
    assert _ids((await _tweet(client, mine, friend))["quotes"]) == [by_other]
    assert (await _tweet(client, mine))["quoteCount"] == 1  # counts are public


async def test_a_mute_hides_quotes_of_the_muted_from_home_only(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    viewer, other, friend = await register(client), await register(client), await register(client)
    await follow(client, viewer, friend)
    await home(client, viewer)
    theirs = await post(client, other, "muted soon hushword")
    friends = await quote(client, friend, theirs, "look")
    await settle()
    assert friends in await home(client, viewer)
    await ok(client, MUTE, {"id": other.id}, token=viewer.token)
    assert friends not in await home(client, viewer)
    assert _ids((await _tweet(client, theirs, viewer))["quotes"]) == [friends]  # not home


async def test_a_muted_word_in_the_quoted_text_hides_the_quote_from_home(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    viewer, friend, other = await register(client), await register(client), await register(client)
    await follow(client, viewer, friend)
    await home(client, viewer)
    await ok(client, 'mutation { muteWord(input: {word: "spoilers"}) { id } }', token=viewer.token)
    theirs = await post(client, other, "big spoilers here")
    friends = await quote(client, friend, theirs, "wow")
    plain = await post(client, friend, "nothing to hide")
    await settle()
    seen = await home(client, viewer)
    assert plain in seen and friends not in seen


async def test_the_quoted_author_is_notified_once_and_never_of_their_own(
    client: httpx.AsyncClient, settle: Settle
) -> None:
    author, quoter, muted = await register(client), await register(client), await register(client)
    quoted = await post(client, author, "notify me")
    made = await quote(client, quoter, quoted, f"hey @{author.handle}")  # and a mention
    await quote(client, author, quoted, "my own")
    both = (
        await ok(
            client,
            BOTH,
            {"t": quoted},
            token=quoter.token,
        )
    )["createTweet"]["id"]
    await ok(client, MUTE, {"id": muted.id}, token=author.token)
    await quote(client, muted, quoted, "from a muted account")
    await settle()
    await settle()  # run twice: still once
    notices = (await ok(client, NOTIFICATIONS, token=author.token))["notifications"]["edges"]
    got = sorted((n["node"]["kind"], n["node"]["tweet"]["id"]) for n in notices)
    assert got == sorted([("QUOTE", made), ("REPLY", both)])
    assert all(n["node"]["actor"]["id"] == quoter.id for n in notices)
    rest = await rest_ok(client, "GET", "/notifications", author)
    assert {item["kind"] for item in rest["data"]} == {"QUOTE", "REPLY"}


async def test_a_blocked_quoter_notifies_nobody(client: httpx.AsyncClient, settle: Settle) -> None:
    author, quoter = await register(client), await register(client)
    quoted = await post(client, author, "quoted before the block")
    made = await quote(client, quoter, quoted)
    await ok(client, BLOCK, {"id": quoter.id}, token=author.token)
    await settle()
    notices = (await ok(client, NOTIFICATIONS, token=author.token))["notifications"]["edges"]
    assert [n for n in notices if n["node"]["tweet"] and n["node"]["tweet"]["id"] == made] == []


async def test_quotes_on_the_home_timeline_from_redis_and_from_the_database(
    client: httpx.AsyncClient, settle: Settle, settings: Settings
) -> None:
    viewer, friend, author = await register(client), await register(client), await register(client)
    await follow(client, viewer, friend)
    await home(client, viewer)
    quoted = await post(client, author, "quoted on a timeline")
    made = await quote(client, friend, quoted)
    await ok(client, RETWEET, {"id": made}, token=friend.token)  # a retweet of the quote
    await settle()
    from_redis = (await ok(client, HOME_QUOTES, token=viewer.token))["homeTimeline"]["edges"]
    expected = [
        {
            "id": made,
            "quoteCount": 0,
            "quoteOf": {"id": quoted, "text": "quoted on a timeline", "author": {"id": author.id}},
            "retweetOf": None,
        }
    ]
    nodes = [edge["node"] for edge in from_redis]
    assert nodes[1:] == expected and nodes[0]["retweetOf"] == {
        "id": made,
        "quoteOf": {"id": quoted},
    }
    down = create_app(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    async with down.router.lifespan_context(down):
        transport = httpx.ASGITransport(app=down)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            from_database = await ok(other, HOME_QUOTES, token=viewer.token)
    assert from_database["homeTimeline"]["edges"] == from_redis


async def test_rest_answers_quotes_as_graphql_does(client: httpx.AsyncClient) -> None:
    author, quoter = await register(client), await register(client)
    first = await post(client, author, "first")
    second = (
        await rest_ok(
            client, "POST", "/tweets", author, json={"text": "second", "quoteOfId": first}
        )
    )["id"]
    third = await quote(client, quoter, second, "third")
    await ok(client, RETWEET, {"id": third}, token=author.token)
    query = f"query($id: ID!) {{ tweet(id: $id) {{ {FULL_TWEET} }} }}"
    for tweet_id in (first, second, third):
        for viewer in (author, quoter):
            rest = await rest_ok(client, "GET", f"/tweets/{tweet_id}", viewer)
            assert rest == (await ok(client, query, {"id": tweet_id}, token=viewer.token))["tweet"]
    rest = await rest_ok(client, "GET", f"/tweets/{third}")
    assert rest["quoteOf"]["id"] == second and rest["quoteOf"]["quoteOf"] == {"id": first}
    assert rest["quoteCount"] == 0 and rest["quoteOf"]["quoteCount"] == 1
    for body, status in [
        ({"text": "x", "quoteOfId": MISSING}, (404, "NOT_FOUND")),
        ({"text": "x", "quoteOfId": "nonsense"}, (400, "BAD_USER_INPUT")),
        ({"text": "x", "quoteOfId": 5}, (400, "BAD_USER_INPUT")),
    ]:
        assert await failure(client, "POST", "/tweets", author, json=body) == status
    document = (await client.get("/api/v1/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert {"quoteOf", "quoteCount", "viewerHasBookmarked"} <= set(schemas["Tweet"]["properties"])
    assert "quoteOfId" in schemas["NewTweet"]["properties"]
    responses = document["paths"]["/tweets"]["post"]["responses"]
    assert "403" in responses


async def test_a_page_of_quotes_costs_the_same_statements_whatever_its_size(
    client: httpx.AsyncClient, db: Database, app: Starlette
) -> None:
    viewer = await register(client)
    authors = await asyncio.gather(*(register(client) for _ in range(4)))
    quoted = [await post(client, authors[n % 4], f"quoted {n}") for n in range(30)]
    for n in range(30):
        await quote(client, viewer, quoted[n], f"quote {n}")
    page = """query($h: String!, $first: Int) { user(handle: $h) { tweets(first: $first) {
      edges { node { id quoteCount viewerHasBookmarked
        quoteOf { id viewerHasLiked viewerHasBookmarked author { handle } quoteOf { id } } } }
    } } }"""
    cost = {}
    for first in (5, 25):
        await _drop_cache(app.state.redis)
        with counted(db) as statements:
            data = await ok(client, page, {"h": viewer.handle, "first": first}, token=viewer.token)
        edges = data["user"]["tweets"]["edges"]
        assert len(edges) == first and all(e["node"]["quoteOf"] for e in edges)
        cost[first] = len(statements)
    assert cost[5] == cost[25], cost
    print(f"\na page of quotes, cold cache: {cost[25]} SQL statements (first=5 and 25)")


async def test_live_home_timeline_sends_quotes_and_skips_quotes_of_the_blocked(
    client: httpx.AsyncClient, live_server: str, settle: Settle
) -> None:
    viewer, friend, other = await register(client), await register(client), await register(client)
    await follow(client, viewer, friend)
    await ok(client, BLOCK, {"id": other.id}, token=viewer.token)
    quoted = await post(client, friend, "quoted live")
    blocked = await post(client, other, "blocked one")
    socket = await Socket.open(live_server, viewer.token)
    await socket.subscribe(
        "subscription { homeTimeline { node { id quoteCount viewerHasBookmarked quoteOf { id } } } }"
    )
    await quote(client, friend, blocked, "quoting the blocked")
    made = await quote(client, friend, quoted, "quoting live")
    await settle()
    payload = await socket.next()
    assert payload["data"]["homeTimeline"]["node"] == {
        "id": made,
        "quoteCount": 0,
        "viewerHasBookmarked": False,
        "quoteOf": {"id": quoted},
    }, payload
    assert await socket.silent(1.0)
    await socket.close()


async def test_tweet_updated_sends_a_new_quote_count(
    client: httpx.AsyncClient, live_server: str
) -> None:
    author, quoter = await register(client), await register(client)
    quoted = await post(client, author, "watched")
    socket = await Socket.open(live_server, author.token)
    await socket.subscribe(
        "subscription($id: ID!) { tweetUpdated(id: $id) { id quoteCount } }", {"id": quoted}
    )
    await asyncio.sleep(0.3)  # subscribed
    await quote(client, quoter, quoted)
    payload = await socket.next()
    assert payload["data"]["tweetUpdated"] == {"id": quoted, "quoteCount": 1}, payload
    await socket.close()


async def test_quoting_is_a_write_a_block_racing_it_wins(
    client: httpx.AsyncClient, app: Starlette, db: Database
) -> None:
    """The quote waits for the pair's lock the block holds, then finds the block."""
    from services import blocks

    one, two = await register(client), await register(client)
    tweet = await post(client, one, "the blocker's")
    async with unit_of_work(app.state.stores) as work:
        await blocks.block(
            work,
            actor_id=expect_global_id(one.id, "User"),
            user_id=expect_global_id(two.id, "User"),
        )
        racing = asyncio.create_task(
            gql(client, QUOTE, {"text": "racing", "q": tweet}, token=two.token)
        )
        await until_waiting_for_a_lock(db)
    body = await racing
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body


async def test_live_subscribers_each_see_their_own_flags_on_the_quoted_tweet(
    client: httpx.AsyncClient, live_server: str, settle: Settle
) -> None:
    """New tweets are read once for every subscriber (dataloaders: shared_rows); the viewers'
    flags on what a tweet quotes are each viewer's own."""
    fan, other, friend = await register(client), await register(client), await register(client)
    for viewer in (fan, other):
        await follow(client, viewer, friend)
    quoted = await post(client, friend, "liked by one")
    await ok(
        client, "mutation($id: ID!) { likeTweet(id: $id) { id } }", {"id": quoted}, token=fan.token
    )
    await ok(
        client,
        "mutation($id: ID!) { bookmarkTweet(id: $id) { id } }",
        {"id": quoted},
        token=other.token,
    )
    live = (
        "subscription { homeTimeline { node { id quoteCount "
        "quoteOf { id viewerHasLiked viewerHasBookmarked } } } }"
    )
    sockets = [await Socket.open(live_server, viewer.token) for viewer in (fan, other)]
    for socket in sockets:
        await socket.subscribe(live)
    made = await quote(client, friend, quoted)
    await settle()
    got = [(await socket.next())["data"]["homeTimeline"]["node"] for socket in sockets]
    assert got == [
        {
            "id": made,
            "quoteCount": 0,
            "quoteOf": {"id": quoted, "viewerHasLiked": like, "viewerHasBookmarked": mark},
        }
        for like, mark in [(True, False), (False, True)]
    ], got
    for socket in sockets:
        await socket.close()
