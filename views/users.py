"""Users as readers see them: their rows (the viewer's flags are loaded where a field asks)."""

from __future__ import annotations

from typing import Any

from core.errors import NotFound
from dataloaders import Loaders


async def user(loaders: Loaders, user_id: int) -> Any | None:
    return await loaders.users.load(user_id)


async def existing(loaders: Loaders, user_id: int) -> Any:
    """The user's row, or NOT_FOUND: what a mutation answers after its commit."""
    found = await user(loaders, user_id)
    if found is None:
        raise NotFound("No such user.")
    return found


async def by_handle(loaders: Loaders, handle: str) -> Any | None:
    return await loaders.users_by_handle.load(handle)
