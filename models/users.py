from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, snowflake_pk


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_handle_lower", func.lower(text("handle")), unique=True),
        Index(
            "ix_users_pinned_tweet_id",
            "pinned_tweet_id",
            postgresql_where=text("pinned_tweet_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = snowflake_pk()
    handle: Mapped[str] = mapped_column(String(15))
    display_name: Mapped[str] = mapped_column(Text)
    bio: Mapped[str] = mapped_column(Text, server_default="")
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    follower_count: Mapped[int] = mapped_column(Integer, server_default="0")
    following_count: Mapped[int] = mapped_column(Integer, server_default="0")
    tweet_count: Mapped[int] = mapped_column(Integer, server_default="0")
    # raised by a password change: tokens carry the value they were issued under
    token_generation: Mapped[int] = mapped_column(Integer, server_default="0")
    moderator: Mapped[bool] = mapped_column(Boolean, server_default="false")  # make moderator
    suspended_at: Mapped[datetime | None]  # by a moderator: its tweets leave every read path
    # one of the user's own tweets, not a retweet (services/pins.py); null once deleted
    pinned_tweet_id: Mapped[int | None] = mapped_column(
        ForeignKey("tweets.id", ondelete="SET NULL", use_alter=True)
    )
