from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Follow(Base):
    """`follower_id` follows `followee_id`; `id` is a Snowflake that orders follows by time."""

    __tablename__ = "follows"
    __table_args__ = (
        Index("ix_follows_followee_id_id", "followee_id", text("id DESC")),
        Index("ix_follows_follower_id_id", "follower_id", text("id DESC")),
    )

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followee_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime]


class Like(Base):
    __tablename__ = "likes"
    __table_args__ = (
        Index("ix_likes_user_id_id", "user_id", text("id DESC")),
        Index("ix_likes_tweet_id", "tweet_id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    tweet_id: Mapped[int] = mapped_column(
        ForeignKey("tweets.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime]


class Bookmark(Base):
    """Private to `user_id`; `id` is a Snowflake that orders the bookmarks by time."""

    __tablename__ = "bookmarks"
    __table_args__ = (
        Index("ix_bookmarks_user_id_id", "user_id", text("id DESC")),
        Index("ix_bookmarks_tweet_id", "tweet_id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    tweet_id: Mapped[int] = mapped_column(
        ForeignKey("tweets.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime]
