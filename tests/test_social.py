"""Follows, likes, retweets and the home timeline through /graphql."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from tests.graphql import Account, error_code, ok, post, register

FOLLOW = (
    "mutation($id: ID!) { follow(userId: $id) { followerCount viewerIsFollowing followsViewer } }"
)
UNFOLLOW = "mutation($id: ID!) { unfollow(userId: $id) { followerCount viewerIsFollowing } }"
LIKE = "mutation($id: ID!) { likeTweet(id: $id) { likeCount viewerHasLiked } }"
UNLIKE = "mutation($id: ID!) { unlikeTweet(id: $id) { likeCount viewerHasLiked } }"
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id retweetCount viewerHasRetweeted } }"
UNDO = "mutation($id: ID!) { undoRetweet(id: $id) { id retweetCount viewerHasRetweeted } }"
HOME = """
query($first: Int, $after: String) {
  homeTimeline(first: $first, after: $after) {
    edges { cursor node { id text author { handle } retweetOf { id } } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""


async def _home_ids(client: httpx.AsyncClient, account: Account, first: int = 100) -> list[str]:
    data = await ok(client, HOME, {"first": first}, token=account.token)
    return [edge["node"]["id"] for edge in data["homeTimeline"]["edges"]]


async def test_follow_is_idempotent_and_counted(client: httpx.AsyncClient) -> None:
    ann, bob = await register(client), await register(client)
    for _ in range(2):
        data = await ok(client, FOLLOW, {"id": bob.id}, token=ann.token)
        assert data["follow"] == {
            "followerCount": 1,
            "viewerIsFollowing": True,
            "followsViewer": False,
        }
    await ok(client, FOLLOW, {"id": ann.id}, token=bob.token)
    query = "query($h: String!) { user(handle: $h) { followingCount followsViewer viewerIsFollowing followers { edges { node { handle } } } following { edges { node { handle } } } } }"
    seen_by_bob = (await ok(client, query, {"h": ann.handle}, token=bob.token))["user"]
    assert seen_by_bob["followingCount"] == 1
    assert seen_by_bob["followsViewer"] is True and seen_by_bob["viewerIsFollowing"] is True
    assert seen_by_bob["followers"]["edges"] == [{"node": {"handle": bob.handle}}]
    assert seen_by_bob["following"]["edges"] == [{"node": {"handle": bob.handle}}]
    for _ in range(2):
        data = await ok(client, UNFOLLOW, {"id": bob.id}, token=ann.token)
        assert data["unfollow"] == {"followerCount": 0, "viewerIsFollowing": False}


async def test_following_oneself_or_nobody(client: httpx.AsyncClient) -> None:
    ann = await register(client)
    assert await error_code(client, FOLLOW, {"id": ann.id}, token=ann.token) == "BAD_USER_INPUT"
    tweet_id = await post(client, ann, "not a user")
    assert await error_code(client, FOLLOW, {"id": tweet_id}, token=ann.token) == "BAD_USER_INPUT"
    ghost = "VXNlcjo5OTk5OTk5OTk5"  # User:9999999999
    assert await error_code(client, FOLLOW, {"id": ghost}, token=ann.token) == "NOT_FOUND"
    assert await error_code(client, UNFOLLOW, {"id": ghost}, token=ann.token) == "NOT_FOUND"
    assert await error_code(client, FOLLOW, {"id": ann.id}) == "UNAUTHENTICATED"


async def test_likes_are_idempotent(client: httpx.AsyncClient) -> None:
    ann, bob = await register(client), await register(client)
    tweet_id = await post(client, ann, "like me")
    for _ in range(2):
        assert (await ok(client, LIKE, {"id": tweet_id}, token=bob.token))["likeTweet"] == {
            "likeCount": 1,
            "viewerHasLiked": True,
        }
    for _ in range(2):
        assert (await ok(client, UNLIKE, {"id": tweet_id}, token=bob.token))["unlikeTweet"] == {
            "likeCount": 0,
            "viewerHasLiked": False,
        }
    await ok(client, LIKE, {"id": tweet_id}, token=bob.token)
    likes = "query($h: String!) { user(handle: $h) { likes { edges { node { id } } } } }"
    assert (await ok(client, likes, {"h": bob.handle}))["user"]["likes"]["edges"] == [
        {"node": {"id": tweet_id}}
    ]


async def test_fifty_concurrent_likes_count_fifty(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "popular")
    fans = await asyncio.gather(*(register(client) for _ in range(50)))
    await asyncio.gather(*(ok(client, LIKE, {"id": tweet_id}, token=fan.token) for fan in fans))
    data = await ok(client, "query($id: ID!) { tweet(id: $id) { likeCount } }", {"id": tweet_id})
    assert data["tweet"]["likeCount"] == 50


async def test_concurrent_follows_both_ways_count_exactly(client: httpx.AsyncClient) -> None:
    people = await asyncio.gather(*(register(client) for _ in range(8)))
    await asyncio.gather(
        *(ok(client, FOLLOW, {"id": b.id}, token=a.token) for a in people for b in people if a != b)
    )
    query = "query($h: String!) { user(handle: $h) { followerCount followingCount } }"
    for person in people:
        counts = (await ok(client, query, {"h": person.handle}))["user"]
        assert counts == {"followerCount": 7, "followingCount": 7}


async def test_retweets(client: httpx.AsyncClient) -> None:
    ann, bob, cat = await register(client), await register(client), await register(client)
    tweet_id = await post(client, ann, "retweet me")
    for _ in range(2):
        data = (await ok(client, RETWEET, {"id": tweet_id}, token=bob.token))["retweet"]
        assert data == {"id": tweet_id, "retweetCount": 1, "viewerHasRetweeted": True}
    tweets = "query($h: String!) { user(handle: $h) { tweetCount tweets { edges { node { id text retweetOf { id } } } } } }"
    bob_view = (await ok(client, tweets, {"h": bob.handle}))["user"]
    assert bob_view["tweetCount"] == 0
    retweet_id = bob_view["tweets"]["edges"][0]["node"]["id"]
    assert bob_view["tweets"]["edges"][0]["node"]["text"] == ""
    data = (await ok(client, RETWEET, {"id": retweet_id}, token=cat.token))["retweet"]
    assert data["id"] == tweet_id and data["retweetCount"] == 2
    for _ in range(2):
        data = (await ok(client, UNDO, {"id": tweet_id}, token=bob.token))["undoRetweet"]
        assert data == {"id": tweet_id, "retweetCount": 1, "viewerHasRetweeted": False}
    assert (await ok(client, tweets, {"h": bob.handle}))["user"]["tweets"]["edges"] == []


async def test_home_timeline_follows_the_graph(
    client: httpx.AsyncClient, settle: Callable[[], Awaitable[int]]
) -> None:
    me, star, stranger = await register(client), await register(client), await register(client)
    mine = await post(client, me, "my own")
    before = await post(client, star, "posted before the follow")
    await post(client, stranger, "not followed")
    assert await _home_ids(client, me) == [mine]
    await ok(client, FOLLOW, {"id": star.id}, token=me.token)
    after = await post(client, star, "posted after the follow")
    await ok(client, RETWEET, {"id": mine}, token=star.token)
    await settle()  # others' tweets arrive by fan-out, a job away
    home = await _home_ids(client, me)
    assert home[1:] == [after, before, mine]
    retweet = (await ok(client, HOME, {"first": 1}, token=me.token))["homeTimeline"]["edges"][0][
        "node"
    ]
    assert retweet["retweetOf"] == {"id": mine} and retweet["author"]["handle"] == star.handle
    await ok(client, UNFOLLOW, {"id": star.id}, token=me.token)
    assert await _home_ids(client, me) == [mine]


async def test_home_timeline_pages_are_stable(client: httpx.AsyncClient) -> None:
    me = await register(client)
    posted = [await post(client, me, f"tweet {n}") for n in range(7)]
    first = (await ok(client, HOME, {"first": 3}, token=me.token))["homeTimeline"]
    assert (
        first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["hasPreviousPage"] is False
    )
    await post(client, me, "posted while paging")
    seen = [e["node"]["id"] for e in first["edges"]]
    cursor = first["pageInfo"]["endCursor"]
    while cursor:
        page = (await ok(client, HOME, {"first": 3, "after": cursor}, token=me.token))[
            "homeTimeline"
        ]
        seen += [e["node"]["id"] for e in page["edges"]]
        cursor = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert seen == list(reversed(posted))


async def test_page_sizes_and_cursors_are_checked(client: httpx.AsyncClient) -> None:
    me = await register(client)
    for first in [0, -1, 101]:
        assert await error_code(client, HOME, {"first": first}, token=me.token) == "BAD_USER_INPUT"
    page = (await ok(client, HOME, {"first": 100}, token=me.token))["homeTimeline"]
    assert page["edges"] == []
    await post(client, me, "one")
    cursor = (await ok(client, HOME, {"first": 1}, token=me.token))["homeTimeline"]["edges"][0][
        "cursor"
    ]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in ["garbage", tampered, "", "%%%"]:
        assert await error_code(client, HOME, {"after": bad}, token=me.token) == "BAD_USER_INPUT", (
            bad
        )
    followers_cursor = "query($h: String!, $a: String) { user(handle: $h) { followers(after: $a) { edges { cursor } } } }"
    assert (
        await error_code(client, followers_cursor, {"h": me.handle, "a": cursor})
        == "BAD_USER_INPUT"
    )
