"""Blocks, mutes, muted words and reports (CONTRACT.md, "Safety")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, snowflake_pk


class Block(Base):
    """`blocker_id` blocks `blocked_id`: either way, neither sees nor reaches the other."""

    __tablename__ = "blocks"
    __table_args__ = (
        Index("ix_blocks_blocker_id_id", "blocker_id", text("id DESC")),
        Index("ix_blocks_blocked_id", "blocked_id"),
    )

    blocker_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime]


class Mute(Base):
    """Private to the muter; lapses at `expires_at` (null: never)."""

    __tablename__ = "mutes"
    __table_args__ = (Index("ix_mutes_muter_id_id", "muter_id", text("id DESC")),)

    muter_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    muted_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class MutedWord(Base):
    """A lower-case word, or `#tag` for a hashtag only; lapses at `expires_at` (null: never)."""

    __tablename__ = "muted_words"
    __table_args__ = (
        Index("uq_muted_words_user_id_word", "user_id", "word", unique=True),
        Index("ix_muted_words_user_id_id", "user_id", text("id DESC")),
    )

    id: Mapped[int] = snowflake_pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    word: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class Report(Base):
    """A report of an account, or of a tweet (and its author); open until a moderator resolves
    every open report of its subject at once. `subject` names it: `tweet:<id>` or `user:<id>`."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_status_id", "status", "id"),
        Index(
            "uq_reports_open_once",
            "reporter_id",
            "subject",
            unique=True,
            postgresql_where=text("status = 'OPEN'"),
        ),
        Index("ix_reports_subject", "subject"),
    )

    id: Mapped[int] = snowflake_pk()
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tweet_id: Mapped[int | None] = mapped_column(ForeignKey("tweets.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    comment: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(Text, server_default="OPEN")
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
