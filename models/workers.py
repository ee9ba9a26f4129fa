from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, SmallInteger, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class WorkerId(Base):
    """One row per Snowflake worker id (0-1023), leased to one process at a time
    (core/worker_ids.py). Free when `expires_at` has passed."""

    __tablename__ = "worker_ids"

    worker_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(Text)  # host:pid:nonce, for operators
    expires_at: Mapped[datetime] = mapped_column(server_default=text("'-infinity'"))
    # the newest Unix millisecond its holders may have minted with it: the next one starts above
    minted_ms: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
