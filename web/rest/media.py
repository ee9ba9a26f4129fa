"""Images: POST /api/v1/media takes one (multipart/form-data), GET /api/v1/media/{id} shows it.

The body is read as it comes, to a spooled temporary file (on disk past 1 MiB), and refused
with 413 as soon as it passes MEDIA_MAX_BYTES plus the room its other parts may take: a large
upload never sits whole in memory before it is known to fit. The general 1 MiB limit of JSON
bodies (web/request_body.py) does not apply here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, NotRequired

from pydantic import Field, WithJsonSchema
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from typing_extensions import TypedDict

from core.errors import BadUserInput, NotFound
from core.ids import expect_global_id
from services import media
from views.media import visible
from web.request_body import BodyTooLarge
from web.rest import shapes
from web.rest.endpoint import Call

_ROOM = 64 * 1024  # the part headers, the boundaries and `alt` (at most 1,500 characters)
MediaId = Annotated[str, Field(description="An image's opaque global id, as in GraphQL.")]


class Upload(TypedDict):
    """The parts of the multipart/form-data body."""

    file: Annotated[
        bytes,
        WithJsonSchema(
            {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": "A JPEG, PNG or WebP image (judged by its content), at most "
                "MEDIA_MAX_BYTES (10 MiB by default) and 40 million pixels.",
            }
        ),
    ]
    alt: NotRequired[
        Annotated[
            str,
            Field(description=f"Text for people who cannot see it, at most {media.ALT_MAX}."),
        ]
    ]


async def upload_media(call: Call) -> shapes.Media:
    viewer = call.viewer()  # before a byte of the body is read
    settings = call.context.settings
    form = await _form(call.request, settings.media_max_bytes)
    try:
        file, alt = form.get("file"), form.get("alt", "")
        if not isinstance(file, UploadFile):
            raise BadUserInput("The part `file` (the image) is missing.")
        if not isinstance(alt, str):
            raise BadUserInput("The part `alt` is text, not a file.")
        if file.size is not None and file.size > settings.media_max_bytes:
            raise BodyTooLarge(_too_large(settings.media_max_bytes))
        file.file.seek(0)
        async with call.context.work() as work:
            row = await media.upload_media(
                work,
                owner_id=viewer,
                source=file.file,
                alt=alt,
                images=call.request.app.state.images,
                storage=call.context.stores.media,
            )
    finally:
        await form.close()
    return shapes.media(settings, row)


async def get_media(call: Call, *, media_id: MediaId) -> shapes.Media:
    row = await visible(call.context.loaders, expect_global_id(media_id, "Media"))
    if row is None:
        raise NotFound("No such image.")
    return shapes.media(call.context.settings, row)


def _too_large(limit: int) -> str:
    return f"The image is larger than {limit:,} bytes."


async def _form(request: Request, limit: int) -> FormData:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadUserInput("Send the image as multipart/form-data, in the part `file`.")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + _ROOM:
        raise BodyTooLarge(_too_large(limit))
    parser = MultiPartParser(
        request.headers,
        _limited(request, limit + _ROOM),
        max_files=1,
        max_fields=1,
        max_part_size=4 * media.ALT_MAX + 1024,
    )
    try:
        return await parser.parse()
    except MultiPartException as error:
        raise BadUserInput(error.message) from None
    except ClientDisconnect:
        raise BadUserInput("The request body did not arrive in full.") from None


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(_too_large(limit - _ROOM))
        yield chunk
