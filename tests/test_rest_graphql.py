"""REST and GraphQL answer the same for the same actions: same objects, ids, cursors, errors."""

from __future__ import annotations

from typing import Any

import httpx

from core.ids import to_global_id
from tests.graphql import Account, gql
from tests.graphql import ok as gql_ok
from tests.rest import call, ok, post, register
from tests.test_media import uploaded

USER = (
    "id handle displayName bio createdAt followerCount followingCount tweetCount "
    "viewerIsFollowing followsViewer"
)
TWEET = (
    f"id text author {{ {USER} }} createdAt editedAt editHistory {{ text createdAt }} "
    f"replyTo {{ id }} hashtags mentions {{ {USER} }} likeCount retweetCount replyCount "
    "viewerHasLiked viewerHasRetweeted media { id url previewUrl width height contentType alt "
    "blurhash }"
)
FULL_TWEET = f"{TWEET} retweetOf {{ {TWEET} retweetOf {{ id }} }}"
PAGE = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


def _tweet_query(field: str) -> str:
    return f"query($id: ID!) {{ {field}(id: $id) {{ {FULL_TWEET} }} }}"


async def _graphql_tweet(client: httpx.AsyncClient, tweet_id: str, viewer: Account) -> Any:
    data = await gql_ok(client, _tweet_query("tweet"), {"id": tweet_id}, token=viewer.token)
    return data["tweet"]


def _same_list(rest: dict[str, Any], connection: dict[str, Any]) -> bool:
    """A REST list holds the connection's nodes, and the cursor of its next page."""
    info = connection["pageInfo"]
    next_cursor = info["endCursor"] if info["hasNextPage"] else None
    nodes = [edge["node"] for edge in connection["edges"]]
    return rest == {"data": nodes, "nextCursor": next_cursor}


async def test_a_tweet_reads_the_same_whichever_api_wrote_it(client: httpx.AsyncClient) -> None:
    author = await register(client)
    friend = await register(client)
    image = await uploaded(client, author)
    original = await post(client, author, f"#One two @{friend.handle}", mediaIds=[image["id"]])
    reply = await post(client, friend, "a reply", replyToId=original)
    await ok(client, "PUT", f"/tweets/{reply}", friend, json={"text": f"edited @{author.handle}"})
    await ok(client, "POST", f"/tweets/{original}/like", friend)
    await ok(client, "POST", f"/users/{author.id}/follow", friend)
    via_graphql = await gql_ok(
        client,
        f"mutation($id: ID!) {{ retweet(id: $id) {{ {FULL_TWEET} }} }}",
        {"id": original},
        token=friend.token,
    )
    for tweet_id in [original, reply]:
        for viewer in [author, friend]:
            rest = await ok(client, "GET", f"/tweets/{tweet_id}", viewer)
            assert rest == await _graphql_tweet(client, tweet_id, viewer)
    assert via_graphql["retweet"] == await ok(client, "GET", f"/tweets/{original}", friend)
    assert via_graphql["retweet"]["media"] == [image]


async def test_writes_answer_the_same(client: httpx.AsyncClient) -> None:
    author = await register(client)
    fan = await register(client)
    one, two = [await post(client, author, text) for text in ["one", "two"]]
    pairs = [
        (("POST", f"/tweets/{one}/like"), "likeTweet", two),
        (("DELETE", f"/tweets/{one}/like"), "unlikeTweet", two),
        (("POST", f"/tweets/{one}/retweet"), "retweet", two),
        (("DELETE", f"/tweets/{one}/retweet"), "undoRetweet", two),
    ]
    for (method, path), mutation, other in pairs:
        rest = await ok(client, method, path, fan)
        graphql = await gql_ok(
            client,
            f"mutation($id: ID!) {{ {mutation}(id: $id) {{ {FULL_TWEET} }} }}",
            {"id": other},
            token=fan.token,
        )
        # the same action on two tweets alike but for their id, text and time
        different = {"id", "text", "createdAt"}
        assert {k: v for k, v in rest.items() if k not in different} == {
            k: v for k, v in graphql[mutation].items() if k not in different
        }
    followed = await ok(client, "POST", f"/users/{author.id}/follow", fan)
    data = await gql_ok(
        client,
        f"query($h: String!) {{ user(handle: $h) {{ {USER} }} }}",
        {"h": author.handle},
        token=fan.token,
    )
    assert followed == data["user"]
    unfollowed = await gql_ok(
        client,
        f"mutation($id: ID!) {{ unfollow(userId: $id) {{ {USER} }} }}",
        {"id": author.id},
        token=fan.token,
    )
    assert unfollowed["unfollow"] == await ok(client, "GET", f"/users/{author.handle}", fan)


async def test_timelines_and_cursors_are_shared(client: httpx.AsyncClient) -> None:
    reader = await register(client)
    writer = await register(client)
    await ok(client, "POST", f"/users/{writer.id}/follow", reader)
    for number in range(5):
        await post(client, writer, f"tweet {number}")
    query = (
        f"query($first: Int, $after: String) {{ homeTimeline(first: $first, after: $after) "
        f"{{ edges {{ cursor node {{ {FULL_TWEET} }} }} {PAGE} }} }}"
    )
    rest = await ok(client, "GET", "/timeline?limit=2", reader)
    graphql = await gql_ok(client, query, {"first": 2}, token=reader.token)
    assert _same_list(rest, graphql["homeTimeline"])
    # a cursor from one API resumes the other
    after = graphql["homeTimeline"]["pageInfo"]["endCursor"]
    rest_next = await ok(client, "GET", "/timeline", reader, params={"limit": 2, "cursor": after})
    graphql_next = await gql_ok(
        client, query, {"first": 2, "after": rest["nextCursor"]}, token=reader.token
    )
    assert _same_list(rest_next, graphql_next["homeTimeline"])
    user_page = await ok(client, "GET", f"/users/{writer.handle}/tweets?limit=3", reader)
    data = await gql_ok(
        client,
        f"query($h: String!) {{ user(handle: $h) {{ tweets(first: 3) "
        f"{{ edges {{ cursor node {{ {FULL_TWEET} }} }} {PAGE} }} }} }}",
        {"h": writer.handle},
        token=reader.token,
    )
    assert _same_list(user_page, data["user"]["tweets"])


async def test_errors_carry_the_same_code_and_message(client: httpx.AsyncClient) -> None:
    author = await register(client)
    other = await register(client)
    tweet_id = await post(client, author, "mine")
    missing = to_global_id("Tweet", 12345)
    create = "mutation($i: CreateTweetInput!) { createTweet(input: $i) { id } }"
    edit = "mutation($i: EditTweetInput!) { editTweet(input: $i) { id } }"
    like = "mutation($id: ID!) { likeTweet(id: $id) { id } }"
    follow = "mutation($id: ID!) { follow(userId: $id) { id } }"
    cases: list[
        tuple[tuple[str, str, Account | None, dict[str, Any]], str, dict[str, Any], Account | None]
    ] = [
        (
            ("POST", "/tweets", author, {"text": "x" * 281}),
            create,
            {"i": {"text": "x" * 281}},
            author,
        ),
        (("POST", "/tweets", None, {"text": "x"}), create, {"i": {"text": "x"}}, None),
        (
            ("PUT", f"/tweets/{tweet_id}", other, {"text": "y"}),
            edit,
            {"i": {"id": tweet_id, "text": "y"}},
            other,
        ),
        (("POST", f"/tweets/{missing}/like", other, {}), like, {"id": missing}, other),
        (("POST", "/tweets/bad-id/like", other, {}), like, {"id": "bad-id"}, other),
        (("POST", f"/users/{author.id}/follow", author, {}), follow, {"id": author.id}, author),
    ]
    for (method, path, account, body), document, variables, viewer in cases:
        response = await call(client, method, path, account, json=body or None)
        answer = await gql(client, document, variables, token=viewer.token if viewer else None)
        (error,) = answer["errors"]
        assert response.json()["error"] == {
            "code": error["extensions"]["code"],
            "message": error["message"],
        }, path
