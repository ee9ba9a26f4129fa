"""`make moderator HANDLE=<handle>` (ARGS=--revoke takes the role away): the operator's one
way to name a moderator. It works whether the service runs or not: on DATABASE_URL when set,
else on the embedded PostgreSQL under DATA_DIR, the running one, or one started for it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from dataclasses import replace

from core import redis_clients
from core.config import Settings
from core.db import Database
from core.embedded import embedded_database
from core.errors import ApiError
from services import moderation
from services.stores import Stores
from services.work import unit_of_work


async def name(settings: Settings, handle: str, *, granted: bool) -> str:
    db = Database.connect(settings.database_url or "", pool_size=1)
    # no event follows this write, so nothing reaches Redis: the client never connects
    redis = redis_clients.connect(settings.redis_url or "redis://127.0.0.1:1", timeout=1)
    stores = Stores(db, redis, settings)
    try:
        async with unit_of_work(stores) as work:
            await moderation.name_moderator(work, handle=handle, granted=granted)
    finally:
        await stores.redis.aclose()
        await db.dispose()
    return f"{handle} {'is a moderator now' if granted else 'is no longer a moderator'}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("handle", help="the account's handle, in any case")
    parser.add_argument("--revoke", action="store_true", help="take the role away")
    args = parser.parse_args()
    settings = Settings.from_env()
    with ExitStack() as stack:
        if not settings.database_url:
            url = stack.enter_context(embedded_database(settings.data_dir))
            settings = replace(settings, database_url=url)
        try:
            print(asyncio.run(name(settings, args.handle, granted=not args.revoke)))
        except ApiError as error:
            print(f"{error.code}: {error.message}", file=sys.stderr)
            raise SystemExit(1) from None


if __name__ == "__main__":
    main()
