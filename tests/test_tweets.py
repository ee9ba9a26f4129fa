"""Tweets through /graphql: text rules, replies, edits, deletion."""

from __future__ import annotations

import json

import httpx

from tests.graphql import error_code, gql, ok, post, register

TWEET = """
query($id: ID!) {
  tweet(id: $id) {
    id text hashtags replyCount likeCount retweetCount editedAt
    author { handle tweetCount }
    mentions { handle }
    replyTo { id }
    editHistory { text createdAt }
  }
}
"""
EDIT = (
    "mutation($i: EditTweetInput!) { editTweet(input: $i) { text editedAt editHistory { text } } }"
)
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
CREATE = "mutation($i: CreateTweetInput!) { createTweet(input: $i) { id text } }"


async def test_text_is_normalised_and_trimmed(client: httpx.AsyncClient) -> None:
    author = await register(client)
    data = await ok(client, CREATE, {"i": {"text": "  Cafe\u0301 \n"}}, token=author.token)
    assert data["createTweet"]["text"] == "Café"


async def test_length_counts_code_points_after_nfc(client: httpx.AsyncClient) -> None:
    author = await register(client)
    assert await ok(client, CREATE, {"i": {"text": "é" * 280}}, token=author.token)
    decomposed = "e\u0301" * 280  # 560 code points, 280 after NFC
    assert await ok(client, CREATE, {"i": {"text": decomposed}}, token=author.token)
    emoji = "👍🏽" * 140  # each is two code points
    assert await ok(client, CREATE, {"i": {"text": emoji}}, token=author.token)
    for bad in ["x" * 281, "👍🏽" * 141, "   ", "", "nul\x00", "bell\x07"]:
        assert (
            await error_code(client, CREATE, {"i": {"text": bad}}, token=author.token)
            == "BAD_USER_INPUT"
        ), bad


async def test_lone_surrogates_are_bad_user_input(client: httpx.AsyncClient) -> None:
    author = await register(client)
    body = json.dumps({"query": CREATE, "variables": {"i": {"text": "\ud800 lone"}}})
    headers = {"content-type": "application/json", "authorization": f"Bearer {author.token}"}
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_newlines_and_tabs_are_allowed(client: httpx.AsyncClient) -> None:
    author = await register(client)
    data = await ok(client, CREATE, {"i": {"text": "one\n\ttwo"}}, token=author.token)
    assert data["createTweet"]["text"] == "one\n\ttwo"


async def test_posting_needs_sign_in(client: httpx.AsyncClient) -> None:
    assert await error_code(client, CREATE, {"i": {"text": "hi"}}) == "UNAUTHENTICATED"


async def test_hashtags_and_mentions(client: httpx.AsyncClient) -> None:
    author = await register(client)
    friend = await register(client)
    text = f"#Hello @{friend.handle.upper()} and @nobody_xyz_1 #world #HELLO @{friend.handle}"
    tweet_id = await post(client, author, text)
    tweet = (await ok(client, TWEET, {"id": tweet_id}))["tweet"]
    assert tweet["hashtags"] == ["hello", "world"]
    assert tweet["mentions"] == [{"handle": friend.handle}]
    assert tweet["author"] == {"handle": author.handle, "tweetCount": 1}


async def test_replies_count_and_list_oldest_first(client: httpx.AsyncClient) -> None:
    author = await register(client)
    other = await register(client)
    parent = await post(client, author, "parent")
    first = await post(client, other, "first reply", reply_to=parent)
    second = await post(client, author, "second reply", reply_to=parent)
    query = "query($id: ID!) { tweet(id: $id) { replyCount replies(first: 10) { edges { node { id replyTo { id } } } } } }"
    tweet = (await ok(client, query, {"id": parent}))["tweet"]
    assert tweet["replyCount"] == 2
    assert [e["node"]["id"] for e in tweet["replies"]["edges"]] == [first, second]
    assert all(e["node"]["replyTo"]["id"] == parent for e in tweet["replies"]["edges"])


async def test_reply_to_a_missing_tweet_is_not_found(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "soon gone")
    await ok(client, DELETE, {"id": tweet_id}, token=author.token)
    code = await error_code(
        client, CREATE, {"i": {"text": "hi", "replyToId": tweet_id}}, token=author.token
    )
    assert code == "NOT_FOUND"


async def test_edit_keeps_history(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "first #one")
    await ok(client, EDIT, {"i": {"id": tweet_id, "text": "second #two"}}, token=author.token)
    data = await ok(client, EDIT, {"i": {"id": tweet_id, "text": "third"}}, token=author.token)
    assert data["editTweet"]["text"] == "third"
    assert data["editTweet"]["editedAt"] is not None
    assert [v["text"] for v in data["editTweet"]["editHistory"]] == ["first #one", "second #two"]
    tweet = (await ok(client, TWEET, {"id": tweet_id}))["tweet"]
    assert tweet["hashtags"] == []
    times = [v["createdAt"] for v in tweet["editHistory"]]
    assert times == sorted(times)


async def test_edit_limit_is_five(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "v0")
    for n in range(1, 6):
        await ok(client, EDIT, {"i": {"id": tweet_id, "text": f"v{n}"}}, token=author.token)
    code = await error_code(client, EDIT, {"i": {"id": tweet_id, "text": "v6"}}, token=author.token)
    assert code == "CONFLICT"


async def test_only_the_author_edits_or_deletes(client: httpx.AsyncClient) -> None:
    author = await register(client)
    other = await register(client)
    tweet_id = await post(client, author, "mine")
    assert (
        await error_code(client, EDIT, {"i": {"id": tweet_id, "text": "yours"}}, token=other.token)
        == "FORBIDDEN"
    )
    assert await error_code(client, DELETE, {"id": tweet_id}, token=other.token) == "FORBIDDEN"
    assert (
        await error_code(
            client, EDIT, {"i": {"id": tweet_id, "text": "x" * 300}}, token=author.token
        )
        == "BAD_USER_INPUT"
    )


async def test_retweets_cannot_be_edited(client: httpx.AsyncClient) -> None:
    author = await register(client)
    fan = await register(client)
    tweet_id = await post(client, author, "original")
    await ok(
        client, "mutation($id: ID!) { retweet(id: $id) { id } }", {"id": tweet_id}, token=fan.token
    )
    query = "query($h: String!) { user(handle: $h) { tweets { edges { node { id retweetOf { id } } } } } }"
    edges = (await ok(client, query, {"h": fan.handle}))["user"]["tweets"]["edges"]
    retweet_id = edges[0]["node"]["id"]
    assert edges[0]["node"]["retweetOf"]["id"] == tweet_id
    code = await error_code(
        client, EDIT, {"i": {"id": retweet_id, "text": "changed"}}, token=fan.token
    )
    assert code == "FORBIDDEN"


async def test_delete_cascades(client: httpx.AsyncClient) -> None:
    author = await register(client)
    fan = await register(client)
    parent = await post(client, author, "parent")
    tweet_id = await post(client, author, "doomed", reply_to=parent)
    reply = await post(client, fan, "a reply that stays", reply_to=tweet_id)
    await ok(
        client,
        "mutation($id: ID!) { retweet(id: $id) { id } likeTweet(id: $id) { id } }",
        {"id": tweet_id},
        token=fan.token,
    )
    deleted = await ok(client, DELETE, {"id": tweet_id}, token=author.token)
    assert deleted["deleteTweet"] == tweet_id
    assert (await ok(client, TWEET, {"id": tweet_id}))["tweet"] is None
    assert (await ok(client, TWEET, {"id": reply}))["tweet"]["replyTo"] is None
    assert (await ok(client, TWEET, {"id": parent}))["tweet"]["replyCount"] == 0
    profile = "query($h: String!) { user(handle: $h) { tweetCount tweets { edges { node { id } } } likes { edges { node { id } } } } }"
    fan_view = (await ok(client, profile, {"h": fan.handle}))["user"]
    assert [e["node"]["id"] for e in fan_view["tweets"]["edges"]] == [reply]
    assert fan_view["likes"]["edges"] == []
    assert (await ok(client, profile, {"h": author.handle}))["user"]["tweetCount"] == 1
    assert await error_code(client, DELETE, {"id": tweet_id}, token=author.token) == "NOT_FOUND"


async def test_malformed_ids(client: httpx.AsyncClient) -> None:
    author = await register(client)
    for bad in ["", "nonsense", "VXNlcjox", "!!!", "VHdlZXQ6LTE"]:
        assert await error_code(client, TWEET, {"id": bad}) == "BAD_USER_INPUT", bad
        assert (
            await error_code(client, DELETE, {"id": bad}, token=author.token) == "BAD_USER_INPUT"
        ), bad


async def test_node_resolves_users_and_tweets(client: httpx.AsyncClient) -> None:
    author = await register(client)
    tweet_id = await post(client, author, "node me")
    query = "query($a: ID!, $b: ID!) { a: node(id: $a) { id ... on User { handle } } b: node(id: $b) { id ... on Tweet { text } } }"
    data = await ok(client, query, {"a": author.id, "b": tweet_id})
    assert data["a"] == {"id": author.id, "handle": author.handle}
    assert data["b"] == {"id": tweet_id, "text": "node me"}


async def test_a_field_cancelled_beside_an_error_leaves_the_same_key_to_others(
    client: httpx.AsyncClient,
) -> None:
    """x's replies fail and null x, so graphql-core cancels x's editHistory, which waits on
    the same loader key as y's: y still gets its answer (found by tests/test_fuzz.py; the
    request used to die of CancelledError)."""
    author = await register(client)
    tweet = await post(client, author, "one key, two fields")
    query = """query($t: ID!) {
      x: tweet(id: $t) { editHistory { text } replies(first: 0) { edges { cursor } } }
      y: tweet(id: $t) { editHistory { text } mentions { handle } author { handle } }
    }"""
    body = await gql(client, query, {"t": tweet})
    assert body["data"] == {
        "x": None,
        "y": {"editHistory": [], "mentions": [], "author": {"handle": author.handle}},
    }
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_USER_INPUT"]
