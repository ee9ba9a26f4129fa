"""Images in an S3-compatible bucket (MEDIA_S3_URL=s3://bucket/prefix), through aiobotocore.

The endpoint, region and keys come from the usual variables botocore reads: AWS_ENDPOINT_URL
(MinIO, Ceph, R2, ...; unset: AWS itself), AWS_REGION or AWS_DEFAULT_REGION,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile, or the instance's role). With an
endpoint of its own the bucket is addressed by path, as such servers expect.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

_DELETE_BATCH = 1000  # DeleteObjects' most


class S3Storage:
    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client: Any = None
        self._stack = AsyncExitStack()
        self._opening = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("MEDIA_S3_URL is s3://bucket or s3://bucket/prefix.")
        return cls(parts.netloc, parts.path)

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        client = await self._connected()
        await client.put_object(
            Bucket=self.bucket,
            Key=self.object_key(key),
            Body=data,
            ContentType=content_type,
            CacheControl="public, max-age=31536000, immutable",
        )

    async def get(self, key: str) -> bytes | None:
        client = await self._connected()
        try:
            answer = await client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        async with answer["Body"] as body:
            data: bytes = await body.read()
        return data

    async def delete(self, keys: list[str]) -> None:
        client = await self._connected()
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            objects = [{"Key": self.object_key(key)} for key in batch]
            await client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def _connected(self) -> Any:
        async with self._opening:
            if self._client is None:
                endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
                region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                config = AioConfig(s3={"addressing_style": "path" if endpoint else "auto"})
                self._client = await self._stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=endpoint,
                        region_name=region or "us-east-1",
                        config=config,
                    )
                )
        return self._client
