"""What every resolver gets: the viewer, the stores, and this operation's loaders."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import redis.asyncio as aioredis
import strawberry
from redis.exceptions import RedisError

from core import read_your_writes
from core.config import Settings
from core.db import Database, RequestReads
from core.errors import BadUserInput, NotFound, Unauthenticated
from core.security import TokenCodec
from dataloaders import Loaders
from services import live, search_backends, tokens
from services.rate_limits import ClientBudget, Limiter
from services.stores import Stores
from services.work import Work, unit_of_work


@dataclass(slots=True)  # one per WebSocket too: thousands of them
class Context:
    stores: Stores  # the app's (lifespan)
    tokens: TokenCodec
    viewer_id: int | None
    request_id: str
    search: search_backends.SearchBackend  # PostgreSQL or Meilisearch: the app's (lifespan)
    limiter: Limiter  # the app's rate limits (services/rate_limits.py)
    hub: live.Hub | None = None  # live events, for subscriptions
    close_socket: Callable[[int, str], None] | None = None  # on a WebSocket
    # on a WebSocket: sends a subscription result encoded before (web/websocket.py)
    send_shared: Callable[[object], Awaitable[bool]] | None = None
    connection_params: dict[str, Any] | None = None  # the WebSocket's connection_init payload
    client_budget: ClientBudget | None = None  # the per-client request budget (web/rate_limit.py)
    estimated_cost: int = 0  # the operation's, set once it validated (schema/query_limits.py)
    reads: RequestReads = field(init=False)
    loaders: Loaders = field(init=False)
    wal_position: int | None = field(default=None, init=False)  # of its last write (replicas)

    def __post_init__(self) -> None:
        # a WebSocket's reads stay on the primary: its subscriptions act on events of commits
        # just made, which a replica may not have replayed yet
        self.reads = RequestReads(self.db, recall=self._recall if self.hub is None else None)
        self.loaders = self._new_loaders()

    async def _recall(self) -> int | None:
        return await read_your_writes.recall(self.redis, self.viewer_id)

    @property
    def db(self) -> Database:
        return self.stores.db

    @property
    def redis(self) -> aioredis.Redis:
        return self.stores.redis

    @property
    def settings(self) -> Settings:
        return self.stores.settings

    def _new_loaders(self) -> Loaders:
        return Loaders(self.reads, self.redis, self.viewer_id, ttl=self.settings.cache_ttl_seconds)

    @asynccontextmanager
    async def work(self) -> AsyncIterator[Work]:
        """A unit of work (services/work.py); the loaders start afresh after it, so that what
        the mutation answers shows its change."""
        try:
            async with unit_of_work(self.stores) as work:
                yield work
        except (NotFound, Unauthenticated):
            # the viewer's token passed on a cached generation: its user may be gone since
            viewer = self.viewer_id
            if viewer is not None and await tokens.forget_if_gone(self.db, self.redis, viewer):
                raise Unauthenticated("This account no longer exists.") from None
            raise
        if work.wal_position is not None:
            await self._wrote(work.wal_position)
        self.after_write()

    async def _wrote(self, position: int) -> None:
        self.wal_position = position
        await self.reads.after_write(position)
        if self.viewer_id is not None:
            await self.remember_write(self.viewer_id)

    async def remember_write(self, user_id: int) -> None:
        """The user's next reads, on any API process, see this operation's writes: a new
        account's, whose requests come with the token it was just given."""
        if self.wal_position is None:
            return
        try:
            await read_your_writes.remember(self.redis, user_id, self.wal_position)
        except RedisError:
            logger.warning("could not remember user %s's write for read-your-writes", user_id)

    def live(self) -> live.Hub:
        if self.hub is None or self.close_socket is None:
            raise BadUserInput("Subscriptions are served over a WebSocket on /graphql.")
        return self.hub

    def viewer(self) -> int:
        """The signed-in user's id; UNAUTHENTICATED when nobody is signed in."""
        if self.viewer_id is None:
            raise Unauthenticated("Sign in first.")
        return self.viewer_id

    def after_write(self) -> None:
        """Drops what the loaders cached, so reads after a mutation see its effect."""
        self.loaders = self._new_loaders()

    async def close(self) -> None:
        await self.reads.finish()


logger = logging.getLogger("chirp.context")
Info: TypeAlias = strawberry.Info[Context, None]
_DEFAULTS = Settings()


def settings_of(context: object) -> Settings:
    """The settings an operation runs with: its context's; the defaults for a context of
    another kind (an operation executed by hand)."""
    settings = getattr(context, "settings", None)
    return settings if isinstance(settings, Settings) else _DEFAULTS


class HasContext(Protocol):
    """What the loading functions below the resolvers read: a resolver's `info`, or a REST call."""

    @property
    def context(self) -> Context: ...
