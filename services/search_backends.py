"""Which search answers: PostgreSQL when SEARCH_URL is unset, Meilisearch when it is set.

Both take the same queries and give the same pages (services/search.py, services/meili.py);
resolvers call the process's backend through the context and never know which it is.
"""

from __future__ import annotations

import logging
from typing import Protocol

from meilisearch_python_sdk.errors import MeilisearchError

from core.config import Settings
from core.db import RequestReads
from core.pagination import Page
from services import search
from services.meili import Meili

log = logging.getLogger(__name__)


class SearchBackend(Protocol):
    async def tweets(
        self, reads: RequestReads, *, query: str, first: int | None, after: str | None
    ) -> Page: ...

    async def users(
        self, reads: RequestReads, *, query: str, first: int | None, after: str | None
    ) -> Page: ...

    async def ping(self) -> None:
        """Raises when the backend does not answer (GET /readyz)."""

    async def close(self) -> None: ...


class PostgresSearch:
    """Full-text search in the database; its index is a generated column, nothing to keep."""

    async def tweets(
        self, reads: RequestReads, *, query: str, first: int | None, after: str | None
    ) -> Page:
        return await reads.run(
            lambda connection: search.tweets(connection, query=query, first=first, after=after)
        )

    async def users(
        self, reads: RequestReads, *, query: str, first: int | None, after: str | None
    ) -> Page:
        return await reads.run(
            lambda connection: search.users(connection, query=query, first=first, after=after)
        )

    async def ping(self) -> None:
        pass  # the database, which /readyz checks on its own

    async def close(self) -> None:
        pass


async def open_backend(settings: Settings) -> SearchBackend:
    """The backend SEARCH_URL names. Meilisearch's index settings are applied here; when it
    does not answer yet, the first search or indexing job applies them instead."""
    if not settings.search_url:
        return PostgresSearch()
    backend = Meili.connect(settings)
    try:
        await backend.ready()
    except MeilisearchError:
        log.warning("Meilisearch at SEARCH_URL does not answer; searches fail until it does")
    return backend
