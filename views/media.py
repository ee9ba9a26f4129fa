"""Images as a viewer may see them: anyone once attached to a tweet, before that its owner."""

from __future__ import annotations

from typing import Any

from dataloaders import Loaders


async def visible(loaders: Loaders, media_id: int) -> Any | None:
    """The image's row (dataloaders: MediaRow columns), or None when the viewer may not see it."""
    row = await loaders.media.load(media_id)
    if row is None or (row.tweet_id is None and row.owner_id != loaders.viewer_id):
        return None
    return row
