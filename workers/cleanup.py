"""The periodic clean-up a worker process runs beside its relay: images uploaded and never
attached are deleted after UNATTACHED_HOURS (services/media.py), a batch at a time; their
files go after the commit, by the MediaRemoved job. Several workers may run it at once: each
skips the rows another is deleting."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from core import tasks
from core.config import Settings
from services import media
from services.stores import Stores
from services.work import unit_of_work

INTERVAL_SECONDS = 600.0


async def purge_unattached(stores: Stores, *, older_than: timedelta | None = None) -> int:
    """Deletes every image unattached for longer than `older_than`; how many."""
    age = older_than if older_than is not None else timedelta(hours=media.UNATTACHED_HOURS)
    purged = 0
    while True:
        async with unit_of_work(stores) as work:
            batch = await media.purge_unattached(work, older_than=age)
        purged += batch
        if batch < media.PURGE_BATCH:
            return purged


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    stores = Stores.connect(settings, pool_size=1)
    try:
        while not stop.is_set() and not tasks.stopping():
            await purge_unattached(stores)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
    finally:
        await stores.close()
