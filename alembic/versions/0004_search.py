"""search: a full-text vector of every tweet's text, mentions and trigram indexes for users

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "ALTER TABLE tweets ADD COLUMN search tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED"
    )
    op.execute("CREATE INDEX ix_tweets_search ON tweets USING gin (search)")
    op.execute("CREATE INDEX ix_tweets_mentions ON tweets USING gin (mentions)")
    op.execute("CREATE INDEX ix_users_handle_prefix ON users (lower(handle) text_pattern_ops)")
    op.execute("CREATE INDEX ix_users_handle_trgm ON users USING gin (lower(handle) gin_trgm_ops)")
    op.execute(
        "CREATE INDEX ix_users_display_name_trgm ON users USING gin (lower(display_name) gin_trgm_ops)"
    )


def downgrade() -> None:
    for index in (
        "ix_users_display_name_trgm",
        "ix_users_handle_trgm",
        "ix_users_handle_prefix",
        "ix_tweets_mentions",
        "ix_tweets_search",
    ):
        op.execute(f"DROP INDEX {index}")
    op.execute("ALTER TABLE tweets DROP COLUMN search")
