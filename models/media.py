from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, snowflake_pk


class Media(Base):
    """An uploaded image: unattached (tweet_id null) until a tweet takes it, at `position`
    among that tweet's images. The files are named by `key` and `preview_key` in the media
    store (media/storage.py); several rows may name the same file (the same bytes twice)."""

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_tweet_id_position", "tweet_id", "position"),
        Index("ix_media_unattached", "created_at", postgresql_where=text("tweet_id IS NULL")),
        Index("ix_media_key", "key"),
        Index("ix_media_preview_key", "preview_key"),
    )

    id: Mapped[int] = snowflake_pk()
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # the images go with their tweet: deleting it records their keys first (services/media.py)
    tweet_id: Mapped[int | None] = mapped_column(ForeignKey("tweets.id", ondelete="CASCADE"))
    position: Mapped[int | None] = mapped_column(SmallInteger)
    key: Mapped[str] = mapped_column(Text)
    preview_key: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(Text)
    alt: Mapped[str] = mapped_column(Text, server_default="")
    blurhash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
