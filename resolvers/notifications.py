"""The viewer's notifications."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.ids import expect_global_id
from schema.context import Info
from schema.notifications import NotificationConnection
from schema.relay import AFTER, FIRST
from services import notifications
from views import pages


async def notifications_page(
    info: Info,
    first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
    after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
) -> NotificationConnection:
    listed = await pages.notification_page(info.context, first=first, after=after)
    return NotificationConnection.of(listed)


async def unread_count(info: Info) -> int:
    viewer_id = info.context.viewer()
    return await info.context.reads.run(
        lambda connection: notifications.unread_count(connection, viewer_id=viewer_id)
    )


async def mark_read(
    info: Info,
    up_to: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="A notification's id: this one and older; null: all."),
    ] = None,
) -> int:
    viewer_id = info.context.viewer()
    last = expect_global_id(up_to, "Notification") if up_to is not None else None
    async with info.context.work() as work:
        changed = await notifications.mark_read(work, viewer_id=viewer_id, up_to=last)
    return changed
