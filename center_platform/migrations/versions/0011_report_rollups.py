"""report rollups: the daily figures summed per day × product type (the whole bank's trend) and per
calendar month × branch × relationship manager × product type (the staff assessment of whole months), the
months whose staff rows wait to be summed again; an index of the sales covered by a supplementary recording

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:00:00

Both are filled here from the daily figures already reconciled, so the report pages are complete at once;
from then on each reconciliation run keeps them in step (a day's rows in the day's transaction, its month's
staff rows at the end of the run, the month read by day until then).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MEASURES = (
    "sales",
    "recorded",
    "late",
    "missed",
    "not_uploaded",
    "cancelled_sales",
    "recordings",
    "unsold",
    "interrupted",
    "quality_failed",
    "cancelled_takes",
    "duration_ms",
)


def _measure_columns() -> list[sa.Column]:
    return [sa.Column(m, sa.BigInteger() if m == "duration_ms" else sa.Integer(), nullable=False) for m in MEASURES]


def upgrade() -> None:
    op.create_table(
        "report_days",
        sa.Column("id", _ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_type_id", sa.Integer(), nullable=False),
        *_measure_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_days")),
        sa.UniqueConstraint("day", "product_type_id", name=op.f("uq_report_days_day_product_type_id")),
    )
    op.create_table(
        "report_staff_months",
        sa.Column("id", _ID, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("staff_code", sa.String(length=7), nullable=False),
        sa.Column("product_type_id", sa.Integer(), nullable=False),
        *_measure_columns(),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_report_staff_months_branch_id_branches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_staff_months")),
        sa.UniqueConstraint(
            "month",
            "branch_id",
            "staff_code",
            "product_type_id",
            name=op.f("uq_report_staff_months_month_branch_id_staff_code_product_type_id"),
        ),
    )
    op.create_table(
        "report_stale_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_stale_months")),
        sa.UniqueConstraint("month", name=op.f("uq_report_stale_months_month")),
    )
    supplementary = sa.text("outcome = 'supplementary'")
    with op.batch_alter_table("reconciled_sales", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reconciled_sales_supplementary_day",
            ["day"],
            unique=False,
            postgresql_where=supplementary,
            sqlite_where=supplementary,
        )

    sums = ", ".join(f"sum({m})" for m in MEASURES)
    names = ", ".join(MEASURES)
    month = (
        "date(day, 'start of month')" if op.get_bind().dialect.name == "sqlite" else "date_trunc('month', day)::date"
    )
    op.execute(
        f"INSERT INTO report_days (day, product_type_id, {names})"
        f" SELECT day, product_type_id, {sums} FROM daily_figures GROUP BY day, product_type_id"
    )
    op.execute(
        f"INSERT INTO report_staff_months (month, branch_id, staff_code, product_type_id, {names})"
        f" SELECT {month}, branch_id, staff_code, product_type_id, {sums} FROM daily_figures"
        f" GROUP BY {month}, branch_id, staff_code, product_type_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("reconciled_sales", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciled_sales_supplementary_day")
    op.drop_table("report_stale_months")
    op.drop_table("report_staff_months")
    op.drop_table("report_days")
