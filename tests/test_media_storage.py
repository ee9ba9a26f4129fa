"""media/storage.py and media/s3.py: both stores keep, serve and remove files alike; the S3
one against a real S3-protocol server on loopback (moto's server mode, a stand-in for S3,
started here and stopped after), through the whole API; and the clean-up of images never
attached (workers/cleanup.py), on both."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session
from sqlalchemy import text

from app import create_app
from core.config import Settings
from core.ids import expect_global_id
from media.images import ImagePool
from media.s3 import S3Storage
from media.storage import LocalStorage, Storage, open_storage
from services import media
from services.stores import Stores
from services.work import unit_of_work
from tests import images as build
from tests.conftest import run_pending_jobs
from tests.graphql import error_code, ok, register
from tests.test_media import CREATE, DELETE, tweet_with, upload, uploaded
from tests.test_work import until_waiting_for_a_lock
from workers import cleanup

BUCKET = "chirp-media"
CDN = "https://cdn.example.test/media/"
KEY = "ab" * 32 + ".png"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 on a free loopback port; the AWS_* variables point botocore at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    variables = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture(scope="session")
async def bucket(s3_server: str) -> AsyncIterator[Any]:
    """An S3 client on the bucket, made anew for the session."""
    async with get_session().create_client("s3", endpoint_url=s3_server) as client:
        await client.create_bucket(Bucket=BUCKET)
        yield client


async def objects(bucket: Any, prefix: str = "") -> dict[str, Any]:
    listed = await bucket.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"]: item for item in listed.get("Contents", [])}


@pytest.fixture(params=["local", "s3"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, bucket: Any
) -> AsyncIterator[Storage]:
    if request.param == "local":
        store: Storage = LocalStorage(tmp_path / "media")
    else:
        store = S3Storage(BUCKET, f"unit-{os.getpid()}/{tmp_path.name}")
    yield store
    await store.close()


async def test_a_store_keeps_serves_and_removes_files(storage: Storage) -> None:
    assert await storage.get(KEY) is None
    await storage.put(KEY, b"first", "image/png")
    await storage.put(KEY, b"first", "image/png")  # the same key again: the same bytes
    assert await storage.get(KEY) == b"first"
    await storage.delete([KEY, "cd" * 32 + ".jpg"])  # one with no file: no error
    assert await storage.get(KEY) is None
    await storage.delete([KEY])


def test_the_local_store_takes_only_keys(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    assert store.path(KEY) == tmp_path / "ab" / "ab" / KEY
    for bad in ("../jwt_secret", "ab" * 32 + ".html", "AB" * 32 + ".png", KEY + "/x"):
        with pytest.raises(ValueError):
            store.path(bad)


def test_the_settings_choose_the_store(settings: Settings) -> None:
    local = open_storage(settings)
    assert isinstance(local, LocalStorage) and local.root == settings.data_dir / "media"
    s3 = open_storage(replace(settings, media_s3_url="s3://pictures/a/b/"))
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("pictures", "a/b")
    assert s3.object_key(KEY) == f"a/b/{KEY}"
    with pytest.raises(ValueError):
        S3Storage.from_url("https://pictures/a")


@pytest.fixture(scope="session")
def s3_settings(settings: Settings, s3_server: str) -> Settings:
    return replace(settings, media_s3_url=f"s3://{BUCKET}/uploads", media_public_url=CDN)


@pytest.fixture(scope="session")
async def s3_client(s3_settings: Settings, bucket: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The API with its images in the bucket."""
    application = create_app(s3_settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def s3_stores(s3_settings: Settings) -> AsyncIterator[Stores]:
    stores = Stores.connect(s3_settings, pool_size=2)
    yield stores
    await stores.close()


async def test_with_s3_the_files_go_to_the_bucket_and_urls_start_with_the_cdn(
    s3_client: httpx.AsyncClient, bucket: Any, s3_stores: Stores
) -> None:
    account = await register(s3_client)
    before = await objects(bucket, "uploads/")
    refused = await upload(s3_client, account, build.corrupt_png())
    assert refused.status_code == 400 and await objects(bucket, "uploads/") == before
    marked = build.encoded(build.halves(123, 77), "JPEG", comment=build.SECRET)  # bytes of its own
    image = await uploaded(s3_client, account, marked)
    assert image["url"].startswith(CDN) and image["previewUrl"].startswith(CDN)
    keys = [url.removeprefix(CDN) for url in (image["url"], image["previewUrl"])]
    stored = await objects(bucket, "uploads/")
    assert {f"uploads/{key}" for key in keys} <= set(stored)
    head = await bucket.head_object(Bucket=BUCKET, Key=f"uploads/{keys[0]}")
    assert head["ContentType"] == "image/jpeg"
    assert "immutable" in head["CacheControl"]
    body = await (await bucket.get_object(Bucket=BUCKET, Key=f"uploads/{keys[0]}"))["Body"].read()
    assert build.SECRET not in body and body.startswith(b"\xff\xd8")
    served = await s3_client.get(f"/media/{keys[0]}")  # the API serves them too, from the bucket
    assert served.status_code == 200 and served.content == body
    assert served.headers["x-content-type-options"] == "nosniff"

    tweet = await tweet_with(s3_client, account, [image["id"]], "in the bucket")
    assert tweet["media"][0]["url"] == image["url"]
    await ok(s3_client, DELETE, {"id": tweet["id"]}, token=account.token)
    await run_pending_jobs(s3_stores)
    assert not {f"uploads/{key}" for key in keys} & set(await objects(bucket, "uploads/"))
    assert (await s3_client.get(f"/media/{keys[0]}")).status_code == 404


async def _backdated(stores: Stores, media_id: str, hours: int = 25) -> None:
    raw = expect_global_id(media_id, "Media")
    async with stores.db.transaction() as session:
        await session.execute(
            text("UPDATE media SET created_at = now() - make_interval(hours => :h) WHERE id = :id"),
            {"h": hours, "id": raw},
        )


async def _exists(stores: Stores, media_id: str) -> bool:
    async with stores.db.read() as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM media WHERE id = :id"),
            {"id": expect_global_id(media_id, "Media")},
        )
    return bool(found)


async def _cleanup_removes_only_old_unattached_images(
    client: httpx.AsyncClient, stores: Stores, files: Any
) -> None:
    account = await register(client)
    old = await uploaded(client, account, build.png(33, 21))
    fresh = await uploaded(client, account, build.png(34, 21))
    taken = await uploaded(client, account, build.png(35, 21))
    await tweet_with(client, account, [taken["id"]], "attached")
    for image in (old, taken):
        await _backdated(stores, image["id"])
    assert await files(old) and await files(taken)
    assert await cleanup.purge_unattached(stores) >= 1
    assert not await _exists(stores, old["id"])
    assert await _exists(stores, fresh["id"]) and await _exists(stores, taken["id"])
    assert await files(old)  # the files go after the commit, by the worker's job
    await run_pending_jobs(stores)
    assert not await files(old)
    assert await files(fresh) and await files(taken)
    gone = {"input": {"text": "too late", "mediaIds": [old["id"]]}}
    assert await error_code(client, CREATE, gone, token=account.token) == "BAD_USER_INPUT"
    assert len((await tweet_with(client, account, [fresh["id"]], "in time"))["media"]) == 1


async def test_the_cleanup_removes_images_never_attached_after_24_hours(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    stores = Stores.connect(settings, pool_size=2)
    root = settings.resolved_media_dir

    async def files(image: Any) -> bool:
        return any(root.rglob(image["url"].rsplit("/", 1)[1]))

    try:
        await _cleanup_removes_only_old_unattached_images(client, stores, files)
    finally:
        await stores.close()


async def test_the_cleanup_removes_them_from_the_bucket_too(
    s3_client: httpx.AsyncClient, bucket: Any, s3_stores: Stores
) -> None:
    async def files(image: Any) -> bool:
        key = "uploads/" + image["url"].removeprefix(CDN)
        return key in await objects(bucket, "uploads/")

    await _cleanup_removes_only_old_unattached_images(s3_client, s3_stores, files)


async def test_the_workers_loop_runs_the_cleanup_until_stopped(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    old = await uploaded(client, account, build.png(36, 21))
    stores = Stores.connect(settings, pool_size=1)
    try:
        await _backdated(stores, old["id"])
        stop = asyncio.Event()
        loop = asyncio.create_task(cleanup.serve(settings, stop))
        for _ in range(100):
            if not await _exists(stores, old["id"]):
                break
            await asyncio.sleep(0.05)
        assert not await _exists(stores, old["id"])
        stop.set()
        await asyncio.wait_for(loop, 5)
    finally:
        await stores.close()


async def test_removing_a_file_waits_for_an_upload_of_the_same_bytes_and_keeps_it(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The job that removes a deleted tweet's files, racing an upload of the same bytes that
    has written the file but not committed yet: it waits, then sees the new image, and keeps
    the file."""
    account, other = await register(client), await register(client)
    data = build.png(57, 31)
    image = await uploaded(client, account, data)
    tweet = await tweet_with(client, account, [image["id"]], "going")
    await ok(client, DELETE, {"id": tweet["id"]}, token=account.token)
    stores = Stores.connect(settings, pool_size=3)
    root = settings.resolved_media_dir
    name = image["url"].rsplit("/", 1)[1]
    pool = ImagePool(1)
    try:
        async with unit_of_work(stores) as work:
            await media.upload_media(
                work,
                owner_id=expect_global_id(other.id, "User"),
                source=io.BytesIO(data),
                alt="",
                images=pool,
                storage=stores.media,
            )
            removing = asyncio.create_task(run_pending_jobs(stores))
            await until_waiting_for_a_lock(stores.db)
            assert any(root.rglob(name))
        await removing
        assert any(root.rglob(name))  # the new image names it
    finally:
        pool.close()
        await stores.close()
