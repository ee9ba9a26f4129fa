from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, Computed, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, snowflake_pk


class Tweet(Base):
    """An original tweet, a reply (reply_to_id set) or a retweet (retweet_of_id set, empty text);
    an original or a reply may quote another tweet (quote_of_id, null once that one is gone)."""

    __tablename__ = "tweets"
    __table_args__ = (
        Index("ix_tweets_author_id_id", "author_id", text("id DESC")),
        Index(
            "ix_tweets_reply_to_id_id",
            "reply_to_id",
            "id",
            postgresql_where=text("reply_to_id IS NOT NULL"),
        ),
        Index(
            "uq_tweets_retweet",
            "retweet_of_id",
            "author_id",
            unique=True,
            postgresql_where=text("retweet_of_id IS NOT NULL"),
        ),
        Index("ix_tweets_hashtags", "hashtags", postgresql_using="gin"),
        Index("ix_tweets_mentions", "mentions", postgresql_using="gin"),
        Index("ix_tweets_search", "search", postgresql_using="gin"),
        Index("ix_tweets_position", "position"),
        Index("ix_tweets_author_id_position", "author_id", "position"),
        Index(
            "ix_tweets_quote_of_id_id",
            "quote_of_id",
            text("id DESC"),
            postgresql_where=text("quote_of_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = snowflake_pk()
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    edit_count: Mapped[int] = mapped_column(Integer, server_default="0")
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("tweets.id", ondelete="SET NULL"))
    retweet_of_id: Mapped[int | None] = mapped_column(ForeignKey("tweets.id", ondelete="CASCADE"))
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    mentions: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    like_count: Mapped[int] = mapped_column(Integer, server_default="0")
    retweet_count: Mapped[int] = mapped_column(Integer, server_default="0")
    reply_count: Mapped[int] = mapped_column(Integer, server_default="0")
    quote_of_id: Mapped[int | None] = mapped_column(ForeignKey("tweets.id", ondelete="SET NULL"))
    quote_count: Mapped[int] = mapped_column(Integer, server_default="0")
    # words of the text for full-text search, kept by PostgreSQL (migration 0004)
    # where the tweet entered the live stream: given at its commit (migration 0009)
    position: Mapped[int | None]
    search: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple', text)", persisted=True), deferred=True
    )


class TweetVersion(Base):
    """An earlier text of an edited tweet, published at `created_at`."""

    __tablename__ = "tweet_versions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tweet_id: Mapped[int] = mapped_column(ForeignKey("tweets.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
