"""live positions: tweets and notifications numbered in the order they became visible

Ids are minted before the commit, so they are not in commit order; a subscription that resumed
after an id could skip an entry committed later under a lower one. Each row now gets a
position at its commit: a deferred trigger takes the stream's advisory lock (held until the
commit ends, so one committing writer at a time from there) and the next value of the
stream's sequence, never below the row's own id. A reader that sees a position therefore sees
every lower one that will ever exist (services/live.py).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TAKE = """
CREATE FUNCTION take_live_position() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  stream regclass := TG_ARGV[0]::regclass;
  taken bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(stream::oid::bigint);
  taken := nextval(stream);
  IF taken < NEW.id THEN
    taken := setval(stream, NEW.id);
  END IF;
  EXECUTE format('UPDATE %I.%I SET position = $1 WHERE id = $2', TG_TABLE_SCHEMA, TG_TABLE_NAME)
    USING taken, NEW.id;
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.execute(_TAKE)
    for table, stream, key in (
        ("tweets", "tweet_positions", "author_id"),
        ("notifications", "notification_positions", "recipient_id"),
    ):
        op.execute(f"ALTER TABLE {table} ADD COLUMN position bigint")
        op.execute(f"UPDATE {table} SET position = id")  # committed long ago: in any order
        op.execute(f"CREATE SEQUENCE {stream} AS bigint")
        op.execute(f"SELECT setval('{stream}', coalesce(max(position), 1)) FROM {table}")
        op.execute(f"CREATE INDEX ix_{table}_position ON {table} (position)")
        op.execute(f"CREATE INDEX ix_{table}_{key}_position ON {table} ({key}, position)")
        # at the commit, for rows inserted without a position (bulk loads give theirs: id)
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {table}_live_position AFTER INSERT ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.position IS NULL) "
            f"EXECUTE FUNCTION take_live_position('{stream}')"
        )


def downgrade() -> None:
    for table, stream in (("tweets", "tweet_positions"), ("notifications", "notification_positions")):
        op.execute(f"DROP TRIGGER {table}_live_position ON {table}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN position")
        op.execute(f"DROP SEQUENCE {stream}")
    op.execute("DROP FUNCTION take_live_position()")
