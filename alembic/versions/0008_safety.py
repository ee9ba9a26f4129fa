"""safety: blocks, mutes, muted words, reports; moderators and suspension

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def _user(table: str, column: str) -> sa.Column:  # type: ignore[type-arg]
    """A user's id, gone with the user (named as the models' naming convention would)."""
    name = f"fk_{table}_{column}_users"
    return sa.Column(
        column,
        sa.BigInteger(),
        sa.ForeignKey("users.id", ondelete="CASCADE", name=name),
        nullable=False,
    )


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("moderator", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column("users", sa.Column("suspended_at", _WHEN, nullable=True))
    for table, first, second in (
        ("blocks", "blocker_id", "blocked_id"),
        ("mutes", "muter_id", "muted_id"),
    ):
        extra = [sa.Column("expires_at", _WHEN, nullable=True)] if table == "mutes" else []
        op.create_table(
            table,
            _user(table, first),
            _user(table, second),
            sa.Column("id", sa.BigInteger(), nullable=False),
            sa.Column("created_at", _WHEN, nullable=False),
            *extra,
            sa.PrimaryKeyConstraint(first, second, name=f"pk_{table}"),
            sa.UniqueConstraint("id", name=f"uq_{table}_id"),
        )
        op.create_index(f"ix_{table}_{first}_id", table, [first, sa.literal_column("id DESC")])
    op.create_index("ix_blocks_blocked_id", "blocks", ["blocked_id"])
    op.create_table(
        "muted_words",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        _user("muted_words", "user_id"),
        sa.Column("word", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_muted_words"),
    )
    op.create_index("uq_muted_words_user_id_word", "muted_words", ["user_id", "word"], unique=True)
    op.create_index(
        "ix_muted_words_user_id_id", "muted_words", ["user_id", sa.literal_column("id DESC")]
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        _user("reports", "reporter_id"),
        _user("reports", "user_id"),
        sa.Column(
            "tweet_id",
            sa.BigInteger(),
            sa.ForeignKey("tweets.id", ondelete="SET NULL", name="fk_reports_tweet_id_tweets"),
        ),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.Text(), server_default="OPEN", nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("resolved_at", _WHEN, nullable=True),
        sa.Column(
            "resolved_by",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_reports_resolved_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
    )
    op.create_index("ix_reports_status_id", "reports", ["status", "id"])
    op.create_index("ix_reports_subject", "reports", ["subject"])
    op.create_index(
        "uq_reports_open_once",
        "reports",
        ["reporter_id", "subject"],
        unique=True,
        postgresql_where=sa.text("status = 'OPEN'"),
    )


def downgrade() -> None:
    for table in ("reports", "muted_words", "mutes", "blocks"):
        op.drop_table(table)
    op.drop_column("users", "suspended_at")
    op.drop_column("users", "moderator")
