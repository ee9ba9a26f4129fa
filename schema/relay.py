"""Relay building blocks: the Node interface and page info."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.pagination import Page


@strawberry.interface(
    description="Relay global object identification. IDs are opaque: clients never parse them."
)
class Node:
    id: strawberry.ID = strawberry.field(description="The object's opaque global id.")


@strawberry.type(description="Where a page sits in its list, for keyset pagination.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more entries follow this page.")
    has_previous_page: bool = strawberry.field(
        description="True when this page was fetched with a cursor (entries precede it)."
    )
    start_cursor: str | None = strawberry.field(description="The cursor of the first entry.")
    end_cursor: str | None = strawberry.field(
        description="The cursor of the last entry: pass it as `after` for the next page."
    )

    @classmethod
    def of(cls, page: Page) -> PageInfo:
        return cls(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        )


FIRST = "How many entries, 1 to 100."
AFTER = "A cursor from an earlier page: entries after it."
TweetIdArg = Annotated[strawberry.ID, strawberry.argument(description="A tweet's global id.")]
UserIdArg = Annotated[strawberry.ID, strawberry.argument(description="A user's global id.")]
