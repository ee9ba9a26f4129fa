from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, snowflake_pk


class Notification(Base):
    """`actor_id` did `kind` to `recipient_id`, about `tweet_id` (null for FOLLOW).

    One row per (recipient, kind, actor, tweet): liking, unliking and liking again notifies once.
    A deleted tweet takes its notifications with it (the foreign key cascades).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_recipient_id_id", "recipient_id", text("id DESC")),
        Index(
            "ix_notifications_unread",
            "recipient_id",
            "id",
            postgresql_where=text("NOT read"),
        ),
        Index(
            "uq_notifications_once",
            "recipient_id",
            "kind",
            "actor_id",
            "tweet_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_notifications_actor_id", "actor_id"),
        Index("ix_notifications_tweet_id", "tweet_id"),
        Index("ix_notifications_position", "position"),
        Index("ix_notifications_recipient_id_position", "recipient_id", "position"),
    )

    id: Mapped[int] = snowflake_pk()
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    tweet_id: Mapped[int | None] = mapped_column(ForeignKey("tweets.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    read: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # where it entered the live stream: given at its commit (migration 0009)
    position: Mapped[int | None]
