"""Search in Meilisearch (SEARCH_URL): the same queries and pages as services/search.py.

Tweets: the terms of `search.parse`; words and phrases are the query, each one quoted (a
Meilisearch phrase: whole words, no typos, no prefixes) and all required; hashtags and mentions
are filters. Newest first by keyset: the cursor is PostgreSQL's, the last id seen. Meilisearch
holds numbers as float64, exact only below 2**53, and Snowflake ids are larger, so documents
carry the id split in two exact numbers, `id_high` (the milliseconds) and `id_low` (worker and
sequence), to sort and filter on; `id` itself is a string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk.errors import MeilisearchApiError
from meilisearch_python_sdk.models.settings import MeilisearchSettings, TypoTolerance

from core import cursors
from core.config import Settings
from core.db import RequestReads
from core.pagination import Page, check_first
from services.search import Terms, cleaned, parse
from services.timelines import TWEETS

Document: TypeAlias = dict[str, Any]
TWEET_INDEX = "tweets"
USER_INDEX = "users"
USERS = "user-search-offset"  # cursor scope: an offset, unlike PostgreSQL's (score, id)
_LOW_BITS = 22  # a Snowflake's worker and sequence, below its milliseconds (core/ids.py)
_SORT = ["id_high:desc", "id_low:desc"]
_SETTINGS = {
    TWEET_INDEX: MeilisearchSettings(
        searchable_attributes=["text"],
        filterable_attributes=["id", "hashtags", "mentions", "author_id", "id_high", "id_low"],
        sortable_attributes=["id_high", "id_low"],
        # newest first, strictly: every hit matches every term, so relevance has nothing to add
        ranking_rules=["sort", "words", "typo", "proximity", "attribute", "exactness"],
        typo_tolerance=TypoTolerance(enabled=False),
    ),
    USER_INDEX: MeilisearchSettings(
        searchable_attributes=["handle", "display_name"], filterable_attributes=["id"]
    ),
}


@dataclass(frozen=True)
class TweetSearch:
    """One request to the tweets index; `query` None is a search by filters alone."""

    query: str | None
    filter: list[str]
    sort: list[str]
    matching_strategy: Literal["all"] = "all"


def split_id(tweet_id: int) -> tuple[int, int]:
    return tweet_id >> _LOW_BITS, tweet_id & ((1 << _LOW_BITS) - 1)


def quoted(value: str) -> str:
    """A string literal of Meilisearch's filter syntax: whatever `value` holds stays inside."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tweet_search(terms: Terms, *, before: int | None) -> TweetSearch | None:
    """The request for `terms`, newest first, older than the tweet `before`; None when the
    terms can match nothing (a query of only punctuation: PostgreSQL finds nothing there)."""
    words = [word for word in terms.words if any(c.isalnum() for c in word)]
    if terms.words and not words or not (words or terms.hashtags or terms.mentions):
        return None
    filters = [f"hashtags = {quoted(tag)}" for tag in terms.hashtags]
    filters += [f"mentions = {quoted(handle)}" for handle in terms.mentions]
    if before is not None:
        high, low = split_id(before)
        filters.append(f"id_high < {high} OR (id_high = {high} AND id_low < {low})")
    return TweetSearch(query=" ".join(words) or None, filter=filters, sort=_SORT)


class Meili:
    """The search backend on a Meilisearch server, and the writes that keep its indexes."""

    def __init__(self, url: str, api_key: str | None = None, *, prefix: str = "") -> None:
        self.client = AsyncClient(url, api_key, timeout=10)
        self.prefix = prefix  # of the index names: tests keep theirs apart
        self._ready = False

    @classmethod
    def connect(cls, settings: Settings) -> Meili:
        return cls(settings.search_url or "", settings.search_api_key)

    def index_uid(self, index: str) -> str:
        return self.prefix + index

    async def ready(self) -> list[int]:
        """Applies the indexes' settings (creating the indexes), once per process; the ids of
        the tasks doing it. Does not wait: documents sent later are indexed after them."""
        if self._ready:
            return []
        tasks = [
            (await self.client.index(self.index_uid(index)).update_settings(settings)).task_uid
            for index, settings in _SETTINGS.items()
        ]
        self._ready = True
        return tasks

    async def tweets(
        self, reads: RequestReads, *, query: str, first: int | None, after: str | None
    ) -> Page:
        terms = parse(query)
        first = check_first(first)
        before = cursors.decode(after, TWEETS)[0] if after is not None else None
        request = tweet_search(terms, before=before)
        if request is None:
            return Page([], [], has_next=False, has_previous=after is not None)
        ids = await self._search(
            TWEET_INDEX,
            request.query,
            filter=request.filter,
            sort=request.sort,
            matching_strategy=request.matching_strategy,
            limit=first + 1,
        )
        page = ids[:first]
        return Page(
            node_ids=page,
            cursors=[cursors.encode(TWEETS, tweet_id) for tweet_id in page],
            has_next=len(ids) > first,
            has_previous=after is not None,
        )

    async def users(
        self, reads: RequestReads, *, query: str, first: int | None, after: str | None
    ) -> Page:
        """Meilisearch's relevance over handles and names. Relevance has no key to resume
        after, so the cursor holds an offset (signed like every cursor): a page fetched later
        can repeat or skip a user whose rank changed meanwhile, and results end at the
        index's maxTotalHits (1,000 unless configured)."""
        query = cleaned(query)
        first = check_first(first)
        offset = cursors.decode(after, USERS)[0] if after is not None else 0
        wanted = query.strip().lstrip("@")
        if not wanted:
            return Page([], [], has_next=False, has_previous=after is not None)
        ids = await self._search(USER_INDEX, wanted, offset=offset, limit=first + 1)
        page = ids[:first]
        return Page(
            node_ids=page,
            cursors=[cursors.encode(USERS, offset + n + 1) for n in range(len(page))],
            has_next=len(ids) > first,
            has_previous=after is not None,
        )

    async def _search(self, index: str, query: str | None, **options: Any) -> list[int]:
        await self.ready()
        try:
            found = await self.client.index(self.index_uid(index)).search(
                query, attributes_to_retrieve=["id"], **options
            )
        except MeilisearchApiError as error:
            if error.code == "index_not_found":  # its settings task has not run yet
                return []
            raise
        return [int(hit["id"]) for hit in found.hits]

    async def put(self, index: str, documents: list[Document]) -> int | None:
        """Adds or replaces documents; the id of the task, None when there was nothing."""
        if not documents:
            return None
        await self.ready()
        task = await self.client.index(self.index_uid(index)).add_documents(
            documents, primary_key="id"
        )
        return task.task_uid

    async def delete(self, index: str, ids: list[int]) -> int | None:
        if not ids:
            return None
        await self.ready()
        task = await self.client.index(self.index_uid(index)).delete_documents(
            [str(i) for i in ids]
        )
        return task.task_uid

    async def wait(self, task: int) -> None:
        """Until Meilisearch has applied the task; raises if it failed."""
        await self.client.wait_for_task(task, timeout_in_ms=None, raise_for_status=True)

    async def ping(self) -> None:
        await self.client.health()

    async def close(self) -> None:
        await self.client.aclose()
