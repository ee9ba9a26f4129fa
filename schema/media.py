"""The Media type: an uploaded image (POST /api/v1/media), attached to a tweet or not yet."""

from __future__ import annotations

from typing import Any

import strawberry

from core.ids import to_global_id
from media.storage import public_url
from schema.context import Info, settings_of
from schema.relay import Node


@strawberry.type(description="An image, processed and stripped of its metadata.")
class Media(Node):
    id: strawberry.ID = strawberry.field(description="The image's opaque global id.")
    width: int = strawberry.field(description="In pixels, upright (EXIF orientation applied).")
    height: int = strawberry.field(description="In pixels, upright.")
    content_type: str = strawberry.field(description="image/jpeg, image/png or image/webp.")
    alt: str = strawberry.field(
        description="Text for people who cannot see the image; empty when none was given."
    )
    blurhash: str = strawberry.field(
        description="A BlurHash of the image, for a placeholder while it loads."
    )
    key: strawberry.Private[str]
    preview_key: strawberry.Private[str]

    @classmethod
    def of(cls, row: Any) -> Media:
        return cls(
            id=strawberry.ID(to_global_id("Media", row.id)),
            width=row.width,
            height=row.height,
            content_type=row.content_type,
            alt=row.alt,
            blurhash=row.blurhash,
            key=row.key,
            preview_key=row.preview_key,
        )

    @strawberry.field(
        description=(
            "Where the processed image is served (metadata stripped); absolute, or relative to "
            "the API's origin."
        )
    )
    def url(self, info: Info) -> str:
        return public_url(settings_of(info.context), self.key)

    @strawberry.field(description="A smaller copy, at most 400 pixels on its longer side.")
    def preview_url(self, info: Info) -> str:
        return public_url(settings_of(info.context), self.preview_key)
