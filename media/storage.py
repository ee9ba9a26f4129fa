"""Where image files are kept: one interface, two stores. The embedded default keeps them
under MEDIA_DIR; with MEDIA_S3_URL, an S3-compatible bucket (media/s3.py). Keys are
content-addressed (media/images.py: the hash of the bytes and the format's extension), so a
file is never changed once written: writing it again writes the same bytes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path
from typing import Protocol

from core.config import Settings

KEY = re.compile(r"[0-9a-f]{64}\.(jpg|png|webp)")


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The file's bytes; None when there is none."""
        ...

    async def delete(self, keys: list[str]) -> None:
        """Removes the files; a key with no file is no error."""
        ...

    async def close(self) -> None: ...


def is_key(key: str) -> bool:
    return KEY.fullmatch(key) is not None


def open_storage(settings: Settings) -> Storage:
    """The store the settings name; nothing is connected before its first use."""
    if settings.media_s3_url:
        from media.s3 import S3Storage

        return S3Storage.from_url(settings.media_s3_url)
    return LocalStorage(settings.resolved_media_dir)


def public_url(settings: Settings, key: str) -> str:
    """Where clients fetch the file: MEDIA_PUBLIC_URL, else /media/ of the API."""
    base = (settings.media_public_url or "/media").rstrip("/")
    return f"{base}/{key}"


class LocalStorage:
    """Files under a directory, two levels of the key's first characters deep (no directory
    grows past a few thousand entries). Written to a temporary name, then renamed: a reader
    sees a whole file or none."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not is_key(key):
            raise ValueError(f"not a media key: {key!r}")
        return self.root / key[:2] / key[2:4] / key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, keys: list[str]) -> None:
        await asyncio.to_thread(self._remove, [self.path(key) for key in keys])

    async def close(self) -> None:
        pass

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)

    @staticmethod
    def _remove(paths: list[Path]) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
