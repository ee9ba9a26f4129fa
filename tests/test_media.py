"""Images through the API (CONTRACT.md, "Posts"): POST /api/v1/media and every refusal (nothing
stored after one), the files under /media/, attaching with createTweet (its rules and its
race), Tweet.media on every read path, updateMediaAlt, node(id), and REST."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from starlette.applications import Starlette

from core.config import Settings
from core.ids import expect_global_id
from tests import images as build
from tests.graphql import Account, error_code, gql, ok, register
from tests.rest import bearer
from tests.rest import ok as rest_ok
from tests.test_realtime import received
from tests.test_timelines import follow, home
from tests.ws import Socket

Settle = Callable[[], Awaitable[int]]
MEDIA = "media { id url previewUrl width height contentType alt blurhash }"
CREATE = (
    f"mutation($input: CreateTweetInput!) {{ createTweet(input: $input) {{ id text {MEDIA} }} }}"
)
TWEET = f"query($id: ID!) {{ tweet(id: $id) {{ id {MEDIA} retweetOf {{ id }} }} }}"
ALT = "mutation($id: ID!, $alt: String!) { updateMediaAlt(id: $id, alt: $alt) { id alt } }"
NODE = "query($id: ID!) { node(id: $id) { __typename id ... on Media { alt width } } }"
RETWEET = "mutation($id: ID!) { retweet(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteTweet(id: $id) }"
HOME_MEDIA = "{ homeTimeline(first: 20) { edges { node { id media { id alt } retweetOf { id media { id } } } } } }"
SEARCH = "query($q: String!) { searchTweets(query: $q, first: 10) { edges { node { id media { id } } } } }"
UPDATED = "subscription($id: ID!) { tweetUpdated(id: $id) { id media { id alt } } }"
LIVE = "subscription { homeTimeline { node { id media { id url alt blurhash } } } }"


async def upload(
    client: httpx.AsyncClient,
    account: Account | None,
    data: bytes,
    *,
    alt: str | None = None,
    name: str = "photo.jpg",
    declared: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        "/api/v1/media",
        headers=bearer(account),
        files={"file": (name, data, declared)},
        data={"alt": alt} if alt is not None else {},
    )


async def uploaded(client: httpx.AsyncClient, account: Account, data: bytes | None = None) -> Any:
    response = await upload(client, account, data or build.jpeg())
    assert response.status_code == 201, response.text
    return response.json()


def files_in(settings: Settings) -> set[Path]:
    root = settings.resolved_media_dir
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


async def rows_of(app: Starlette, account: Account) -> int:
    owner = expect_global_id(account.id, "User")
    async with app.state.db.engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM media WHERE owner_id = :owner"), {"owner": owner}
        )
    return int(count)


async def tweet_with(
    client: httpx.AsyncClient, account: Account, ids: list[str], words: str = ""
) -> Any:
    data = await ok(
        client, CREATE, {"input": {"text": words, "mediaIds": ids}}, token=account.token
    )
    return data["createTweet"]


async def test_an_upload_answers_201_with_the_media_and_its_files_are_served(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    response = await upload(client, account, build.with_metadata(), alt=" a red and blue flag ")
    assert response.status_code == 201, response.text
    image = response.json()
    assert set(image) == {
        "id",
        "url",
        "previewUrl",
        "width",
        "height",
        "contentType",
        "alt",
        "blurhash",
    }
    assert response.headers["location"] == f"/api/v1/media/{image['id']}"
    assert (image["width"], image["height"], image["contentType"]) == (40, 60, "image/jpeg")
    assert image["alt"] == "a red and blue flag" and len(image["blurhash"]) == 28
    assert image["url"].startswith("/media/") and image["previewUrl"].startswith("/media/")
    for url in (image["url"], image["previewUrl"]):
        served = await client.get(url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert build.SECRET not in served.content and b"Exif" not in served.content
        again = await client.get(url, headers={"if-none-match": served.headers["etag"]})
        assert again.status_code == 304
    assert await rest_ok(client, "GET", f"/media/{image['id']}", account) == image
    assert (await client.get("/media/" + "0" * 64 + ".jpg")).status_code == 404
    assert (await client.get("/media/../jwt_secret")).status_code == 404
    assert (await client.get("/media/%2e%2e/jwt_secret")).status_code == 404


async def test_the_type_is_judged_by_the_content_not_the_name_or_the_declared_type(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    response = await upload(client, account, build.webp(), name="cat.gif", declared="image/gif")
    assert response.status_code == 201 and response.json()["contentType"] == "image/webp"
    served = await client.get(response.json()["url"])
    assert served.headers["content-type"] == "image/webp"


async def test_every_bad_upload_is_400_and_stores_nothing(
    client: httpx.AsyncClient, app: Starlette, settings: Settings
) -> None:
    account = await register(client)
    before = files_in(settings)
    bad = {
        "truncated": build.jpeg(400, 300)[:700],
        "corrupt": build.corrupt_png(),
        "polyglot-html": b"<html><script>alert(1)</script>" + build.png(),
        "bomb": build.declared_png(100_000, 100_000),
        "49-megapixels": build.declared_png(7_000, 7_000),
        "not-an-image": b"#!/bin/sh\nrm -rf /\n",
        "gif": build.gif(),
        "empty": b"",
    }
    for name, data in bad.items():
        response = await upload(client, account, data, name=f"{name}.png", declared="image/png")
        assert response.status_code == 400, (name, response.text)
        assert response.json()["error"]["code"] == "BAD_USER_INPUT", name
    too_long = await upload(client, account, build.png(), alt="x" * 1501)
    assert too_long.status_code == 400
    no_file = await client.post(
        "/api/v1/media", headers=bearer(account), data={"alt": "a"}, files={"other": ("a", b"x")}
    )
    assert no_file.status_code == 400
    as_json = await client.post("/api/v1/media", headers=bearer(account), json={"file": "x"})
    assert as_json.status_code == 400 and as_json.json()["error"]["code"] == "BAD_USER_INPUT"
    assert files_in(settings) == before and await rows_of(app, account) == 0
    fits = await upload(client, account, build.png(), alt="x" * 1500)
    assert fits.status_code == 201 and len(fits.json()["alt"]) == 1500


async def test_an_upload_needs_sign_in(client: httpx.AsyncClient, settings: Settings) -> None:
    before = files_in(settings)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await client.post(
            "/api/v1/media", headers=headers, files={"file": ("a.png", build.png(), "image/png")}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert files_in(settings) == before


async def test_an_upload_over_media_max_bytes_is_413_whether_its_length_is_declared_or_not(
    client: httpx.AsyncClient, app: Starlette, settings: Settings
) -> None:
    account = await register(client)
    before = files_in(settings)
    huge = build.png() + b"\x00" * settings.media_max_bytes
    response = await upload(client, account, huge, name="big.png")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    sent = 0

    async def chunks() -> Any:  # no Content-Length: the limit applies as the bytes come
        nonlocal sent
        yield head
        for _ in range(settings.media_max_bytes // 65536 + 8):
            sent += 65536
            yield b"\x00" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = await client.post(
        "/api/v1/media",
        headers={**bearer(account), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunks(),
    )
    assert streamed.status_code == 413, streamed.text
    assert files_in(settings) == before and await rows_of(app, account) == 0
    just = build.png() + b"\x00" * (settings.media_max_bytes - len(build.png()) - 1)
    assert (
        await upload(client, account, just, name="just.png")
    ).status_code == 201  # trailing zeros go


async def test_a_tweet_shows_its_images_in_the_order_given_and_text_may_then_be_empty(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    images = [
        await uploaded(client, account, data) for data in (build.png(), build.jpeg(), build.webp())
    ]
    ids = [images[2]["id"], images[0]["id"], images[1]["id"]]
    tweet = await tweet_with(client, account, ids)
    assert tweet["text"] == "" and [m["id"] for m in tweet["media"]] == ids
    assert tweet["media"][0] == images[2]
    read = (await ok(client, TWEET, {"id": tweet["id"]}))["tweet"]
    assert [m["id"] for m in read["media"]] == ids
    empty = {"input": {"text": "  ", "mediaIds": []}}
    assert await error_code(client, CREATE, empty, token=account.token) == "BAD_USER_INPUT"
    plain = await ok(client, CREATE, {"input": {"text": "words"}}, token=account.token)
    assert plain["createTweet"]["media"] == []


async def test_attaching_refuses_five_images_anothers_the_same_twice_and_attached_ones(
    client: httpx.AsyncClient,
) -> None:
    account, other = await register(client), await register(client)
    mine = [(await uploaded(client, account, build.png(10 + i, 10)))["id"] for i in range(5)]
    theirs = (await uploaded(client, other))["id"]
    attached = (await uploaded(client, account))["id"]
    await tweet_with(client, account, [attached])
    for ids in (mine, [theirs], [mine[0], mine[0]], [mine[1], attached], ["VXNlcjox"]):
        variables = {"input": {"text": "refused", "mediaIds": ids}}
        assert (
            await error_code(client, CREATE, variables, token=account.token) == "BAD_USER_INPUT"
        ), ids
    profile = await ok(
        client, "query($h: String!) { user(handle: $h) { tweetCount } }", {"h": account.handle}
    )
    assert profile["user"]["tweetCount"] == 1  # nothing posted by the refused ones
    four = await tweet_with(client, account, mine[:4], "four")  # none was taken by them
    assert len(four["media"]) == 4


async def test_two_tweets_racing_for_one_image_one_gets_it(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for _ in range(3):
        image = (await uploaded(client, account))["id"]
        variables = {"input": {"text": "race", "mediaIds": [image]}}
        answers = await asyncio.gather(
            *(gql(client, CREATE, variables, token=account.token) for _ in range(2))
        )
        won = [a for a in answers if not a.get("errors")]
        lost = [a for a in answers if a.get("errors")]
        assert len(won) == 1 and len(lost) == 1, answers
        assert lost[0]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert won[0]["data"]["createTweet"]["media"][0]["id"] == image


async def test_images_show_on_timelines_from_redis_and_the_database_search_and_retweets(
    client: httpx.AsyncClient, app: Starlette, settle: Settle
) -> None:
    reader, writer, friend = await register(client), await register(client), await register(client)
    await follow(client, reader, writer)
    await follow(client, reader, friend)
    await home(client, reader)
    word = "pic" + writer.handle[1:].lower()
    image = await uploaded(client, writer)
    tweet = await tweet_with(client, writer, [image["id"]], f"look {word}")
    await ok(client, RETWEET, {"id": tweet["id"]}, token=friend.token)
    await settle()

    async def entries() -> list[Any]:
        data = await ok(client, HOME_MEDIA, token=reader.token)
        return [edge["node"] for edge in data["homeTimeline"]["edges"]]

    for source in ("redis", "database"):
        if source == "database":
            await app.state.redis.flushdb()
        retweeted, original = await entries()
        assert original["id"] == tweet["id"] and original["media"][0]["id"] == image["id"], source
        assert retweeted["retweetOf"]["id"] == tweet["id"]
        assert [m["id"] for m in retweeted["media"]] == [image["id"]]  # the original's
    found = (await ok(client, SEARCH, {"q": word}))["searchTweets"]["edges"]
    assert [edge["node"]["media"][0]["id"] for edge in found] == [image["id"]]


async def test_a_subscription_carries_the_images(
    client: httpx.AsyncClient, live_server: str
) -> None:
    reader, writer = await register(client), await register(client)
    await follow(client, reader, writer)
    sockets = [await Socket.open(live_server, reader.token) for _ in range(2)]
    for socket in sockets:
        await socket.subscribe(LIVE)
    await asyncio.sleep(0.3)
    image = await uploaded(client, writer)
    tweet = await tweet_with(client, writer, [image["id"]], "live")
    for socket in sockets:
        [edge] = await received(socket, 1)
        assert edge["node"]["id"] == tweet["id"]
        assert edge["node"]["media"] == [{k: image[k] for k in ("id", "url", "alt", "blurhash")}]
        await socket.close()


async def test_update_media_alt_is_for_the_owner_and_the_tweet_shows_it(
    client: httpx.AsyncClient,
) -> None:
    owner, other = await register(client), await register(client)
    image = await uploaded(client, owner)
    tweet = await tweet_with(client, owner, [image["id"]], "alt")
    await ok(client, TWEET, {"id": tweet["id"]})  # cached now
    changed = await ok(client, ALT, {"id": image["id"], "alt": "a flag"}, token=owner.token)
    assert changed["updateMediaAlt"] == {"id": image["id"], "alt": "a flag"}
    read = (await ok(client, TWEET, {"id": tweet["id"]}))["tweet"]
    assert read["media"][0]["alt"] == "a flag"
    cases = [
        ({"id": image["id"], "alt": "mine"}, other.token, "FORBIDDEN"),
        ({"id": image["id"], "alt": "x" * 1501}, owner.token, "BAD_USER_INPUT"),
        ({"id": "TWVkaWE6MQ==", "alt": "gone"}, owner.token, "NOT_FOUND"),
        ({"id": tweet["id"], "alt": "a tweet"}, owner.token, "BAD_USER_INPUT"),
        ({"id": image["id"], "alt": "anyone"}, None, "UNAUTHENTICATED"),
    ]
    for variables, token, code in cases:
        assert await error_code(client, ALT, variables, token=token) == code, variables


async def test_node_answers_an_image_to_anyone_once_attached_before_only_to_its_owner(
    client: httpx.AsyncClient,
) -> None:
    owner, other = await register(client), await register(client)
    image = await uploaded(client, owner)
    assert (await ok(client, NODE, {"id": image["id"]}, token=owner.token))["node"][
        "__typename"
    ] == "Media"
    assert (await ok(client, NODE, {"id": image["id"]}, token=other.token))["node"] is None
    await tweet_with(client, owner, [image["id"]], "now public")
    node = (await ok(client, NODE, {"id": image["id"]}))["node"]
    assert node == {"__typename": "Media", "id": image["id"], "alt": "", "width": 64}


async def test_rest_posts_with_media_ids_and_its_tweets_carry_media(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    image = await uploaded(client, account)
    response = await client.post(
        "/api/v1/tweets", headers=bearer(account), json={"text": "", "mediaIds": [image["id"]]}
    )
    assert response.status_code == 201, response.text
    assert response.json()["media"] == [image]
    read = await rest_ok(client, "GET", f"/tweets/{response.json()['id']}")
    assert read["media"] == [image]
    again = await client.post(
        "/api/v1/tweets", headers=bearer(account), json={"text": "x", "mediaIds": [image["id"]]}
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "BAD_USER_INPUT"


async def test_deleting_a_tweet_removes_its_files_but_not_those_another_image_shares(
    client: httpx.AsyncClient, settings: Settings, settle: Settle
) -> None:
    account, other = await register(client), await register(client)
    own = await uploaded(client, account, build.jpeg(90, 70))
    shared = await uploaded(client, account, build.png(91, 70))
    same_bytes = await uploaded(client, other, build.png(91, 70))  # the same file as `shared`
    assert same_bytes["url"] == shared["url"]
    tweet = await tweet_with(client, account, [own["id"], shared["id"]], "to delete")
    root = settings.resolved_media_dir

    def present(image: Any) -> list[bool]:
        return [
            any(root.rglob(url.rsplit("/", 1)[1])) for url in (image["url"], image["previewUrl"])
        ]

    assert present(own) == [True, True] and present(shared) == [True, True]
    await ok(client, DELETE, {"id": tweet["id"]}, token=account.token)
    assert present(own) == [True, True]  # after the commit, by the worker
    await settle()
    assert present(own) == [False, False]
    assert present(shared) == [True, True]  # `same_bytes` still names them
    assert (await client.get(own["url"])).status_code == 404
    assert (await client.get(same_bytes["url"])).status_code == 200


async def test_a_new_alt_text_reaches_tweet_updated_subscribers(
    client: httpx.AsyncClient, live_server: str
) -> None:
    owner = await register(client)
    image = await uploaded(client, owner)
    tweet = await tweet_with(client, owner, [image["id"]], "watched")
    socket = await Socket.open(live_server)
    await socket.subscribe(UPDATED, {"id": tweet["id"]})
    await asyncio.sleep(0.3)  # the subscription is registered
    await ok(client, ALT, {"id": image["id"], "alt": "now described"}, token=owner.token)
    update = (await socket.next())["data"]["tweetUpdated"]
    assert update["media"] == [{"id": image["id"], "alt": "now described"}]
    await socket.close()
