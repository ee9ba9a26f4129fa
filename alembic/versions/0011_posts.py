"""posts: quotes, bookmarks and a pinned tweet

A quote points at the tweet it quotes (null once that tweet is deleted: the quote stays), and
the quoted tweet counts its live quotes. Bookmarks are one row per user and tweet, ordered by
their own Snowflake id. A user pins at most one own tweet; deleting it unpins it. QUOTE
notifications need nothing more: `notifications.kind` is text.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "tweets",
        sa.Column(
            "quote_of_id",
            sa.BigInteger(),
            sa.ForeignKey("tweets.id", ondelete="SET NULL", name="fk_tweets_quote_of_id_tweets"),
            nullable=True,
        ),
    )
    op.add_column(
        "tweets", sa.Column("quote_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_index(
        "ix_tweets_quote_of_id_id",
        "tweets",
        ["quote_of_id", sa.literal_column("id DESC")],
        postgresql_where=sa.text("quote_of_id IS NOT NULL"),
    )
    op.create_table(
        "bookmarks",
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_bookmarks_user_id_users"),
            nullable=False,
        ),
        sa.Column(
            "tweet_id",
            sa.BigInteger(),
            sa.ForeignKey("tweets.id", ondelete="CASCADE", name="fk_bookmarks_tweet_id_tweets"),
            nullable=False,
        ),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "tweet_id", name="pk_bookmarks"),
        sa.UniqueConstraint("id", name="uq_bookmarks_id"),
    )
    op.create_index(
        "ix_bookmarks_user_id_id", "bookmarks", ["user_id", sa.literal_column("id DESC")]
    )
    op.create_index("ix_bookmarks_tweet_id", "bookmarks", ["tweet_id"])
    op.add_column(
        "users",
        sa.Column(
            "pinned_tweet_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "tweets.id", ondelete="SET NULL", name="fk_users_pinned_tweet_id_tweets"
            ),
            nullable=True,
        ),
    )
    # deleting a tweet looks for the user who pinned it
    op.create_index(
        "ix_users_pinned_tweet_id",
        "users",
        ["pinned_tweet_id"],
        postgresql_where=sa.text("pinned_tweet_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_pinned_tweet_id", "users")
    op.drop_column("users", "pinned_tweet_id")
    op.drop_table("bookmarks")
    op.drop_index("ix_tweets_quote_of_id_id", "tweets")
    op.drop_column("tweets", "quote_count")
    op.drop_column("tweets", "quote_of_id")
