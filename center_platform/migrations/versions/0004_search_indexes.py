"""search and chain indexes: product type and state by time, manifest hash, branch chain; on PostgreSQL customer-name prefix and contains

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:10:00

On PostgreSQL a LIKE 'x%' prefix can use a B-tree only under the C collation or with pattern ops,
so the name gets a pattern-ops index. "Contains" uses a GIN index over every one- and two-character
piece of the name: Chinese names are two to four characters, shorter than pg_trgm's trigrams.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A loop, not a set-returning SQL query: it runs for every row a search filters on (about 2 µs
# against 7), and its declared cost lets the planner weigh scanning by time against the GIN index.
# The pieces may repeat; GIN keeps each key once.
NAME_GRAMS_SQL = """
CREATE OR REPLACE FUNCTION dr_name_grams(name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 200 AS $$
DECLARE
  pieces text[] := '{}';
  n int := char_length(name);
BEGIN
  FOR i IN 1..n LOOP
    pieces := pieces || substr(name, i, 1);
    IF i < n THEN
      pieces := pieces || substr(name, i, 2);
    END IF;
  END LOOP;
  RETURN pieces;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_product_type_id")
        batch_op.create_index("ix_recordings_type_started", ["product_type_id", "started_at"], unique=False)
        batch_op.create_index("ix_recordings_state_started", ["state", "started_at"], unique=False)
        # Ingest follows each branch's manifest chain: by hash, and to the branch's first clip.
        batch_op.create_index("ix_recordings_manifest_sha256", ["manifest_sha256"], unique=False)
        batch_op.create_index("ix_recordings_branch_chain", ["branch_id", "chain_status"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_recordings_customer_name_prefix",
            "recordings",
            ["customer_name"],
            unique=False,
            postgresql_ops={"customer_name": "varchar_pattern_ops"},
        )
        op.execute(NAME_GRAMS_SQL)
        op.execute(
            "CREATE INDEX ix_recordings_customer_name_grams ON recordings USING gin (dr_name_grams(customer_name))"
        )
        # Single characters and common pairs need more than the default 100 most-common entries for
        # the planner to tell a rare piece of a name from a frequent one.
        op.execute("ALTER INDEX ix_recordings_customer_name_grams ALTER COLUMN 1 SET STATISTICS 1000")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_recordings_customer_name_grams")
        op.execute("DROP FUNCTION dr_name_grams(text)")
        op.drop_index("ix_recordings_customer_name_prefix", table_name="recordings")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_branch_chain")
        batch_op.drop_index("ix_recordings_manifest_sha256")
        batch_op.drop_index("ix_recordings_state_started")
        batch_op.drop_index("ix_recordings_type_started")
        batch_op.create_index("ix_recordings_product_type_id", ["product_type_id"], unique=False)
