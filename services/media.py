"""Images: uploading, attaching to a tweet, alt text, and removing them with their files.

An upload is processed (media/images.py) and its files stored (media/storage.py) before its
row is inserted: a refused file leaves nothing behind. It is unattached until a createTweet
takes it; a conditional UPDATE (`tweet_id IS NULL`) attaches it, so of two tweets racing for
one image one gets it and the other BAD_USER_INPUT. The files of images that are gone, with
their tweet or unattached after UNATTACHED_HOURS, are removed after the commit by the worker
(MediaRemoved, workers/jobs.py), unless another image still names the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import IO, Any

from sqlalchemy import any_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import insert

from core import ids
from core.errors import BadUserInput, Forbidden, NotFound
from core.text import clean_text
from dataloaders.loaders import MEDIA_COLUMNS, MEDIA_ROWS
from media.images import ImagePool
from media.storage import Storage
from models import Media
from services.events import MediaChanged, MediaRemoved
from services.work import Work

ALT_MAX = 1500
PER_TWEET = 4
UNATTACHED_HOURS = 24
PURGE_BATCH = 500
_LOCKS = 20  # the advisory locks' class: files of images (issue 20)


def clean_alt(alt: str) -> str:
    return clean_text(alt, field="alt", max_length=ALT_MAX, allow_empty=True)


async def upload_media(
    work: Work,
    *,
    owner_id: int,
    source: IO[bytes],
    alt: str,
    images: ImagePool,
    storage: Storage,
) -> Any:
    """Processes the upload, stores its files and records the image; its row (MEDIA_COLUMNS)."""
    alt = clean_alt(alt)
    processed = await images.process(source)
    await _lock_files(work.session, [processed.original.key, processed.preview.key])
    for encoded in (processed.original, processed.preview):
        await storage.put(encoded.key, encoded.data, processed.content_type)
    media_id = ids.new_id()
    values = {
        "id": media_id,
        "owner_id": owner_id,
        "key": processed.original.key,
        "preview_key": processed.preview.key,
        "width": processed.width,
        "height": processed.height,
        "content_type": processed.content_type,
        "alt": alt,
        "blurhash": processed.blurhash,
        "created_at": ids.snowflake_time(media_id),
    }
    statement = insert(Media).values(values).returning(*MEDIA_COLUMNS)
    return (await work.session.execute(statement)).one()


def check_ids(media_ids: Sequence[int]) -> list[int]:
    """The ids as given, if they can be attached at all: at most PER_TWEET, none twice."""
    if len(media_ids) > PER_TWEET:
        raise BadUserInput(f"A tweet has at most {PER_TWEET} images.")
    if len(set(media_ids)) != len(media_ids):
        raise BadUserInput("The same image is given twice.")
    return list(media_ids)


async def attach(
    work: Work, *, owner_id: int, tweet_id: int, media_ids: Sequence[int]
) -> tuple[Any, ...]:
    """Attaches the owner's unattached images to the tweet, in the order given; their rows in
    that order (MediaRows, as the loaders read them). BAD_USER_INPUT (and nothing attached:
    the unit of work rolls back) when any is not the owner's, is attached already, or does not
    exist."""
    wanted = check_ids(media_ids)
    if not wanted:
        return ()
    order = case({media_id: index for index, media_id in enumerate(wanted)}, value=Media.id)
    attached = await work.session.execute(
        update(Media)
        .where(
            Media.id == any_(bindparam("wanted", wanted, type_=ARRAY(Media.id.type))),
            Media.owner_id == owner_id,
            Media.tweet_id.is_(None),
        )
        .values(tweet_id=tweet_id, position=order)
        .returning(*MEDIA_COLUMNS)
    )
    rows = sorted(attached.all(), key=lambda row: row.position)
    if len(rows) != len(wanted):
        raise BadUserInput("Each image must be one the viewer uploaded and that no tweet has yet.")
    return tuple(MEDIA_ROWS.row(*row) for row in rows)


async def update_alt(work: Work, *, actor_id: int, media_id: int, alt: str) -> int:
    alt = clean_alt(alt)
    row = (
        await work.session.execute(
            select(Media.owner_id, Media.tweet_id).where(Media.id == media_id).with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("No such image.")
    if row.owner_id != actor_id:
        raise Forbidden("Only its owner can change an image's alt text.")
    await work.session.execute(update(Media).where(Media.id == media_id).values(alt=alt))
    work.record(MediaChanged(media_id, tweet_id=row.tweet_id))
    return media_id


async def keys_of_tweet(session: AsyncSession, tweet_id: int) -> tuple[str, ...]:
    """The files of the tweet's images: what deleting it removes (the rows go by cascade)."""
    rows = await session.execute(
        select(Media.key, Media.preview_key).where(Media.tweet_id == tweet_id)
    )
    return tuple(key for row in rows for key in row)


async def purge_unattached(work: Work, *, older_than: timedelta) -> int:
    """Deletes a batch of images no tweet took within `older_than`; how many. Images being
    attached right now are skipped (their rows are locked), never deleted under the tweet."""
    stale = (
        select(Media.id)
        .where(Media.tweet_id.is_(None), Media.created_at < func.now() - older_than)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    rows = (
        await work.session.execute(
            delete(Media).where(Media.id.in_(stale)).returning(Media.key, Media.preview_key)
        )
    ).all()
    keys = tuple(key for row in rows for key in row)
    if keys:
        work.record(MediaRemoved(keys))
    return len(rows)


async def remove_files(session: AsyncSession, storage: Storage, keys: Sequence[str]) -> None:
    """Removes the files that no image names any more (the same bytes uploaded twice share one
    file). Idempotent: a file already gone is no error. Holds each file's lock (the caller's
    transaction) while it looks and removes, as an upload of the same bytes does from writing
    the file to its commit: one never removes a file the other has just written."""
    if not keys:
        return
    wanted = sorted(set(keys))
    await _lock_files(session, wanted)
    named = bindparam("keys", wanted, type_=ARRAY(Media.key.type))
    still = await session.execute(
        select(Media.key, Media.preview_key).where(
            or_(Media.key == any_(named), Media.preview_key == any_(named))
        )
    )
    kept = {key for row in still for key in row}
    gone = [key for key in wanted if key not in kept]
    if gone:
        await storage.delete(gone)


async def _lock_files(session: AsyncSession, keys: Sequence[str]) -> None:
    """Transaction-level advisory locks on the files' keys, in one order (no deadlock); the
    two-number form, a space of its own beside the one-number locks of migration 0009."""
    for key in sorted(set(keys)):
        await session.execute(select(func.pg_advisory_xact_lock(_LOCKS, func.hashtext(key))))
