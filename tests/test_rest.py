"""The REST API (/api/v1) through HTTP: every endpoint, every error status, idempotency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text

from core.db import Database
from core.errors import RateLimited
from core.ids import expect_global_id, to_global_id
from tests.graphql import ok as gql_ok
from tests.graphql import unique_handle
from tests.rest import bearer, call, failure, ok, post, register
from web.rest.errors import error_response

MISSING_TWEET = to_global_id("Tweet", 12345)
MISSING_USER = to_global_id("User", 12345)


async def test_register_and_login_give_a_token_both_apis_accept(client: httpx.AsyncClient) -> None:
    handle = unique_handle("Reg")
    registered = await call(
        client, "POST", "/register", json={"handle": handle, "password": "long enough"}
    )
    assert registered.status_code == 201
    user = registered.json()["user"]
    assert user["handle"] == handle and user["displayName"] == handle and user["tweetCount"] == 0
    assert registered.headers["location"] == f"/api/v1/users/{handle}"
    assert await ok(client, "GET", registered.headers["location"][len("/api/v1") :]) == user
    login = await ok(
        client, "POST", "/login", json={"handle": handle.lower(), "password": "long enough"}
    )
    assert login["user"] == user
    headers = {"Authorization": f"Bearer {login['token']}"}
    graphql = await client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=headers)
    assert graphql.json()["data"]["viewer"]["id"] == user["id"]


async def test_register_errors(client: httpx.AsyncClient) -> None:
    taken = await register(client)
    cases = [
        ({"handle": taken.handle.upper(), "password": "long enough"}, (409, "CONFLICT")),
        ({"handle": "no spaces", "password": "long enough"}, (400, "BAD_USER_INPUT")),
        ({"handle": unique_handle(), "password": "short"}, (400, "BAD_USER_INPUT")),
        ({"handle": unique_handle()}, (400, "BAD_USER_INPUT")),
        ({"handle": 5, "password": "long enough"}, (400, "BAD_USER_INPUT")),
    ]
    for body, expected in cases:
        assert await failure(client, "POST", "/register", json=body) == expected, body


async def test_login_says_the_same_for_unknown_handle_and_wrong_password(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    wrong = await call(
        client, "POST", "/login", json={"handle": account.handle, "password": "wrong password"}
    )
    unknown = await call(
        client, "POST", "/login", json={"handle": unique_handle(), "password": "wrong password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_malformed_bodies_are_400_and_large_ones_413(client: httpx.AsyncClient) -> None:
    author = await register(client)
    for content in [b"{not json", b"[]", b'"text"', b"", b"\xff\xfe", b'{"text": 5}']:
        status = await failure(client, "POST", "/tweets", author, content=content)
        assert status == (400, "BAD_USER_INPUT"), content
    huge = b'{"text": "' + b"x" * (1024 * 1024) + b'"}'
    assert await failure(client, "POST", "/tweets", author, content=huge) == (
        413,
        "PAYLOAD_TOO_LARGE",
    )


async def test_sign_in_is_needed_for_writes_and_the_viewers_lists(
    client: httpx.AsyncClient,
) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "hello")
    needs_sign_in = [
        ("POST", "/tweets", {"json": {"text": "x"}}),
        ("PUT", f"/tweets/{tweet_id}", {"json": {"text": "x"}}),
        ("DELETE", f"/tweets/{tweet_id}", {}),
        ("POST", f"/tweets/{tweet_id}/like", {}),
        ("DELETE", f"/tweets/{tweet_id}/like", {}),
        ("POST", f"/tweets/{tweet_id}/retweet", {}),
        ("DELETE", f"/tweets/{tweet_id}/retweet", {}),
        ("POST", f"/users/{author.id}/follow", {}),
        ("DELETE", f"/users/{author.id}/follow", {}),
        ("GET", "/timeline", {}),
        ("GET", "/notifications", {}),
        ("GET", "/me", {}),
    ]
    for method, path, kwargs in needs_sign_in:
        assert await failure(client, method, path, **kwargs) == (401, "UNAUTHENTICATED"), path
        response = await client.request(
            method, "/api/v1" + path, headers={"Authorization": "Bearer not.a.token"}, **kwargs
        )
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == 'Bearer realm="chirp"', path
    for path in [f"/tweets/{tweet_id}", f"/users/{author.handle}", "/search/tweets?q=hello"]:
        assert (await call(client, "GET", path)).status_code == 200, path


async def test_post_and_read_a_tweet(client: httpx.AsyncClient) -> None:
    author = await register(client)
    mentioned = await register(client)
    created = await call(
        client, "POST", "/tweets", author, json={"text": f"  hi @{mentioned.handle} #Tag "}
    )
    assert created.status_code == 201
    tweet = created.json()
    assert created.headers["location"] == f"/api/v1/tweets/{tweet['id']}"
    assert tweet["text"] == f"hi @{mentioned.handle} #Tag"
    assert tweet["hashtags"] == ["tag"]
    assert [user["id"] for user in tweet["mentions"]] == [mentioned.id]
    assert tweet["author"]["id"] == author.id and tweet["author"]["tweetCount"] == 1
    assert tweet["editedAt"] is None and tweet["editHistory"] == [] and tweet["replyTo"] is None
    assert await ok(client, "GET", f"/tweets/{tweet['id']}", author) == tweet
    reply = await ok(
        client, "POST", "/tweets", mentioned, json={"text": "back", "replyToId": tweet["id"]}
    )
    assert reply["replyTo"] == {"id": tweet["id"]}
    assert (await ok(client, "GET", f"/tweets/{tweet['id']}"))["replyCount"] == 1


async def test_tweet_errors(client: httpx.AsyncClient) -> None:
    author = await register(client)
    for text_ in ["x" * 281, "   ", "nul\x00"]:
        body = {"text": text_}
        assert await failure(client, "POST", "/tweets", author, json=body) == (
            400,
            "BAD_USER_INPUT",
        )
    for reply_to, expected in [("nonsense", 400), (MISSING_TWEET, 404), (author.id, 400)]:
        body = {"text": "reply", "replyToId": reply_to}
        assert (await failure(client, "POST", "/tweets", author, json=body))[0] == expected
    assert await failure(client, "GET", "/tweets/nonsense") == (400, "BAD_USER_INPUT")
    assert await failure(client, "GET", f"/tweets/{author.id}") == (400, "BAD_USER_INPUT")
    assert await failure(client, "GET", f"/tweets/{MISSING_TWEET}") == (404, "NOT_FOUND")
    assert await failure(client, "GET", "/no/such/endpoint") == (404, "NOT_FOUND")
    assert await failure(client, "GET", "/no%0Asuch") == (404, "NOT_FOUND")  # any character
    assert await failure(client, "GET", "/tweets/a%0Ab") == (400, "BAD_USER_INPUT")
    assert await failure(client, "PATCH", f"/tweets/{MISSING_TWEET}", author) == (
        405,
        "METHOD_NOT_ALLOWED",
    )
    response = await call(client, "PATCH", f"/tweets/{MISSING_TWEET}", author)
    assert set(response.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE"}


async def test_me_is_whom_a_stored_token_signs_in(client: httpx.AsyncClient) -> None:
    account = await register(client)
    await post(client, account, "counted")
    me = await ok(client, "GET", "/me", account)
    assert me == await ok(client, "GET", f"/users/{account.handle}", account)
    assert me["id"] == account.id and me["tweetCount"] == 1


async def test_edit_is_idempotent_within_its_window_and_limit(
    client: httpx.AsyncClient, db: Database
) -> None:
    author = await register(client)
    other = await register(client)
    tweet_id = await post(client, author, "first")
    path = f"/tweets/{tweet_id}"
    edited = await ok(client, "PUT", path, author, json={"text": "second"})
    again = await ok(client, "PUT", path, author, json={"text": "second"})
    assert edited == again
    assert edited["text"] == "second" and [v["text"] for v in edited["editHistory"]] == ["first"]
    assert await failure(client, "PUT", path, other, json={"text": "mine"}) == (403, "FORBIDDEN")
    missing = f"/tweets/{MISSING_TWEET}"
    assert await failure(client, "PUT", missing, author, json={"text": "x"}) == (404, "NOT_FOUND")
    assert await failure(client, "PUT", path, author, json={}) == (400, "BAD_USER_INPUT")
    for number in range(4):  # the default limit is 5 edits
        await ok(client, "PUT", path, author, json={"text": f"edit {number}"})
    assert await failure(client, "PUT", path, author, json={"text": "one more"}) == (
        409,
        "CONFLICT",
    )
    old_id = await post(client, author, "old")
    async with db.transaction() as session:
        await session.execute(
            text("UPDATE tweets SET created_at = created_at - interval '1 hour' WHERE id = :id"),
            {"id": expect_global_id(old_id, "Tweet")},
        )
    assert await failure(client, "PUT", f"/tweets/{old_id}", author, json={"text": "late"}) == (
        409,
        "CONFLICT",
    )


async def test_delete(client: httpx.AsyncClient) -> None:
    author = await register(client)
    other = await register(client)
    tweet_id = await post(client, author, "to delete")
    path = f"/tweets/{tweet_id}"
    assert await failure(client, "DELETE", path, other) == (403, "FORBIDDEN")
    response = await call(client, "DELETE", path, author)
    assert response.status_code == 204 and response.content == b""
    assert await failure(client, "GET", path) == (404, "NOT_FOUND")
    # deleting again changes nothing: it is gone, as GraphQL's deleteTweet says
    assert await failure(client, "DELETE", path, author) == (404, "NOT_FOUND")
    assert (await ok(client, "GET", f"/users/{author.handle}"))["tweetCount"] == 0


async def test_likes_and_retweets_are_idempotent(client: httpx.AsyncClient) -> None:
    author = await register(client)
    fan = await register(client)
    tweet_id = await post(client, author, "likeable")
    for _ in range(2):
        liked = await ok(client, "POST", f"/tweets/{tweet_id}/like", fan)
        assert liked["likeCount"] == 1 and liked["viewerHasLiked"] is True
    for _ in range(2):
        unliked = await ok(client, "DELETE", f"/tweets/{tweet_id}/like", fan)
        assert unliked["likeCount"] == 0 and unliked["viewerHasLiked"] is False
    for _ in range(2):
        retweeted = await ok(client, "POST", f"/tweets/{tweet_id}/retweet", fan)
        assert retweeted["retweetCount"] == 1 and retweeted["viewerHasRetweeted"] is True
    assert retweeted["id"] == tweet_id
    for _ in range(2):
        undone = await ok(client, "DELETE", f"/tweets/{tweet_id}/retweet", fan)
        assert undone["retweetCount"] == 0 and undone["viewerHasRetweeted"] is False
    for method in ["POST", "DELETE"]:
        for action in ["like", "retweet"]:
            missing = f"/tweets/{MISSING_TWEET}/{action}"
            assert await failure(client, method, missing, fan) == (404, "NOT_FOUND")


async def test_follow_is_idempotent(client: httpx.AsyncClient) -> None:
    fan = await register(client)
    star = await register(client)
    for _ in range(2):
        followed = await ok(client, "POST", f"/users/{star.id}/follow", fan)
        assert followed["followerCount"] == 1 and followed["viewerIsFollowing"] is True
    for _ in range(2):
        unfollowed = await ok(client, "DELETE", f"/users/{star.id}/follow", fan)
        assert unfollowed["followerCount"] == 0 and unfollowed["viewerIsFollowing"] is False
    assert await failure(client, "POST", f"/users/{fan.id}/follow", fan) == (400, "BAD_USER_INPUT")
    assert await failure(client, "POST", f"/users/{MISSING_USER}/follow", fan) == (
        404,
        "NOT_FOUND",
    )
    assert await failure(client, "POST", "/users/nonsense/follow", fan) == (400, "BAD_USER_INPUT")


async def test_timeline_pages_with_cursor_and_link(client: httpx.AsyncClient) -> None:
    reader = await register(client)
    writer = await register(client)
    await ok(client, "POST", f"/users/{writer.id}/follow", reader)
    posted = [await post(client, writer, f"tweet {number}") for number in range(5)]
    own = await post(client, reader, "my own")
    expected = [own, *reversed(posted)]
    seen: list[str] = []
    response = await call(client, "GET", "/timeline?limit=2", reader)
    while True:
        assert response.status_code == 200
        page = response.json()
        assert set(page) == {"data", "nextCursor"}
        seen += [tweet["id"] for tweet in page["data"]]
        if page["nextCursor"] is None:
            assert "link" not in response.headers
            break
        link = response.headers["link"]
        assert link.startswith("<http://127.0.0.1:8000/api/v1/timeline?") and link.endswith(
            '>; rel="next"'
        )
        response = await client.get(link[1 : link.index(">")], headers=bearer(reader))
    assert seen == expected
    for query in ["limit=0", "limit=101", "limit=abc", "cursor=nonsense"]:
        assert await failure(client, "GET", f"/timeline?{query}", reader) == (
            400,
            "BAD_USER_INPUT",
        ), query


async def test_user_and_user_tweets(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "mine")
    user = await ok(client, "GET", f"/users/{author.handle.upper()}")
    assert user["id"] == author.id and user["tweetCount"] == 1
    page = await ok(client, "GET", f"/users/{author.handle}/tweets?limit=1")
    assert [tweet["id"] for tweet in page["data"]] == [tweet_id]
    assert page["nextCursor"] is None
    assert await failure(client, "GET", "/users/nobody_here_x") == (404, "NOT_FOUND")
    assert await failure(client, "GET", "/users/nobody_here_x/tweets") == (404, "NOT_FOUND")


async def test_search_tweets(client: httpx.AsyncClient) -> None:
    author = await register(client)
    word = unique_handle("w")
    tweet_id = await post(client, author, f"searching for {word}")
    page = await ok(client, "GET", "/search/tweets", params={"q": word})
    assert [tweet["id"] for tweet in page["data"]] == [tweet_id]
    assert await failure(client, "GET", "/search/tweets") == (400, "BAD_USER_INPUT")
    too_long = {"q": "x" * 501}
    assert await failure(client, "GET", "/search/tweets", params=too_long) == (
        400,
        "BAD_USER_INPUT",
    )


async def test_notifications(
    client: httpx.AsyncClient, settle: Callable[[], Awaitable[int]]
) -> None:
    author = await register(client)
    fan = await register(client)
    tweet_id = await post(client, author, "notice me")
    await ok(client, "POST", f"/tweets/{tweet_id}/like", fan)
    await ok(client, "POST", f"/users/{author.id}/follow", fan)
    await settle()
    page = await ok(client, "GET", "/notifications", author)
    kinds = [(notice["kind"], notice["actor"]["id"]) for notice in page["data"]]
    assert kinds == [("FOLLOW", fan.id), ("LIKE", fan.id)]
    assert page["data"][1]["tweet"]["id"] == tweet_id
    assert page["data"][0]["tweet"] is None


def test_rate_limited_is_429_with_retry_after() -> None:
    response = error_response(RateLimited("Slow down.", retry_after=42))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "42"
    assert response.body == b'{"error":{"code":"RATE_LIMITED","message":"Slow down."}}'


async def test_rest_and_graphql_share_ids_and_tokens(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "shared")
    data = await gql_ok(client, "query($id: ID!) { tweet(id: $id) { id } }", {"id": tweet_id})
    assert data["tweet"]["id"] == tweet_id
