"""worker ids: Snowflake worker ids leased to processes from PostgreSQL, not counted in Redis

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_ids",
        sa.Column("worker_id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), server_default=sa.text("'-infinity'"), nullable=False),
        sa.Column("minted_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_ids")),
    )
    # every id has its row, free: a claim is one UPDATE of the lowest free one (SKIP LOCKED)
    op.execute("INSERT INTO worker_ids (worker_id) SELECT generate_series(0, 1023)")


def downgrade() -> None:
    op.drop_table("worker_ids")
