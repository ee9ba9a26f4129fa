from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class IdempotencyKey(Base):
    """A key a client sent with a createTweet, and the tweet it posted (services/idempotency.py).

    `tweet_id` has no foreign key: the key outlives a deleted tweet, so that a late retry
    answers NOT_FOUND rather than posting it again."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary)  # sha256 of what was asked
    tweet_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
