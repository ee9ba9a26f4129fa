"""notifications: mentions, replies, likes, retweets and follows, once each

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("tweet_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_notifications_recipient_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_notifications_actor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tweet_id"], ["tweets.id"], name=op.f("fk_notifications_tweet_id_tweets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_recipient_id_id", "notifications", ["recipient_id", sa.text("id DESC")]
    )
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["recipient_id", "id"],
        postgresql_where=sa.text("NOT read"),
    )
    op.create_index(
        "uq_notifications_once",
        "notifications",
        ["recipient_id", "kind", "actor_id", "tweet_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    # the actor's side of the cascade from users, and the tweet's
    op.create_index("ix_notifications_actor_id", "notifications", ["actor_id"])
    op.create_index("ix_notifications_tweet_id", "notifications", ["tweet_id"])


def downgrade() -> None:
    op.drop_table("notifications")
