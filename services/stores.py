"""What a unit of work and its effects act on: the database, Redis, the settings, the store of
image files, and the Meilisearch index when SEARCH_URL is set. One per API process (its
lifespan) or worker loop."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from core import redis_clients
from core.config import Settings
from core.db import Database
from media.storage import Storage, open_storage
from services.meili import Meili


@dataclass(frozen=True)
class Stores:
    db: Database
    redis: aioredis.Redis
    settings: Settings
    search: Meili | None = None  # when SEARCH_URL is set
    media: Storage = field(init=False)  # the image files (media/storage.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "media", open_storage(self.settings))

    @classmethod
    def connect(cls, settings: Settings, *, pool_size: int = 4) -> Stores:
        return cls(
            db=Database.connect(settings.database_url or "", pool_size=pool_size),
            redis=redis_clients.connect(
                settings.redis_url or "", timeout=redis_clients.BACKGROUND_TIMEOUT_SECONDS
            ),
            settings=settings,
            search=Meili.connect(settings) if settings.search_url else None,
        )

    async def close(self) -> None:
        await self.media.close()
        if self.search is not None:
            await self.search.close()
        await self.redis.aclose()
        await self.db.dispose()
