"""media: uploaded images, attached to at most one tweet each

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "owner_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_media_owner_id_users"),
            nullable=False,
        ),
        sa.Column(
            "tweet_id",
            sa.BigInteger(),
            sa.ForeignKey("tweets.id", ondelete="CASCADE", name="fk_media_tweet_id_tweets"),
            nullable=True,
        ),
        sa.Column("position", sa.SmallInteger(), nullable=True),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("preview_key", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("alt", sa.Text(), server_default="", nullable=False),
        sa.Column("blurhash", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_media"),
    )
    op.create_index("ix_media_owner_id", "media", ["owner_id"])
    op.create_index("ix_media_tweet_id_position", "media", ["tweet_id", "position"])
    op.create_index(
        "ix_media_unattached", "media", ["created_at"], postgresql_where=sa.text("tweet_id IS NULL")
    )
    op.create_index("ix_media_key", "media", ["key"])
    op.create_index("ix_media_preview_key", "media", ["preview_key"])


def downgrade() -> None:
    op.drop_table("media")
