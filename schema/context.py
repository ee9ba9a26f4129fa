"""What every resolver gets: the viewer, the stores, and this operation's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import redis.asyncio as aioredis
import strawberry

from core.config import Settings
from core.db import Database, RequestReads
from core.errors import Unauthenticated
from core.security import TokenCodec
from dataloaders import Loaders


@dataclass
class Context:
    db: Database
    redis: aioredis.Redis
    tokens: TokenCodec
    settings: Settings
    viewer_id: int | None
    request_id: str
    reads: RequestReads = field(init=False)
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.reads = RequestReads(self.db)
        self.loaders = Loaders(self.reads, self.viewer_id)

    def viewer(self) -> int:
        """The signed-in user's id; UNAUTHENTICATED when nobody is signed in."""
        if self.viewer_id is None:
            raise Unauthenticated("Sign in first.")
        return self.viewer_id

    def after_write(self) -> None:
        """Drops what the loaders cached, so reads after a mutation see its effect."""
        self.loaders = Loaders(self.reads, self.viewer_id)

    async def close(self) -> None:
        await self.reads.close()


Info: TypeAlias = strawberry.Info[Context, None]
