"""Images: their alt text."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.errors import NotFound
from core.ids import expect_global_id
from schema.context import Info
from schema.media import Media
from services import media


async def update_media_alt(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The image.")],
    alt: Annotated[str, strawberry.argument(description="At most 1,500 characters.")],
) -> Media:
    viewer = info.context.viewer()
    media_id = expect_global_id(id, "Media")
    async with info.context.work() as work:
        await media.update_alt(work, actor_id=viewer, media_id=media_id, alt=alt)
    row = await info.context.loaders.media.load(media_id)
    if row is None:  # deleted with its tweet since
        raise NotFound("No such image.")
    return Media.of(row)
