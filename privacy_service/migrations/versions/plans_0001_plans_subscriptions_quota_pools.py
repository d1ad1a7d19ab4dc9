"""plans, subscriptions, quota counters, dedicated IP pools, organisation time zone

Revision ID: plans_0001
Revises: 0003
Create Date: 2026-11-30 16:40:26.208851

Plans are data: the free plan (FAQ: 6,000 emails a month, at most 200 a day, forever) and the
paid monthly volumes are seeded here, prices excluding VAT (FAQ). A dedicated IP and the
administrative mandate come with plans of 150,000 emails a month or more (FAQ). The operator
changes prices by updating these rows (or adds plans and marks old ones unavailable).
"""

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "plans_0001"
down_revision = "0003"
branch_labels = None
depends_on = None

# (code, emails a month, daily limit, monthly price, annual price, extra IP a month); EUR excl. VAT.
PLANS = [
    ("free", 6_000, 200, "0.00", None, None),
    ("15k", 15_000, None, "15.00", "150.00", None),
    ("30k", 30_000, None, "25.00", "250.00", None),
    ("60k", 60_000, None, "45.00", "450.00", None),
    ("150k", 150_000, None, "95.00", "950.00", "20.00"),
    ("450k", 450_000, None, "250.00", "2500.00", "20.00"),
    ("900k", 900_000, None, "450.00", "4500.00", "20.00"),
]
DEDICATED_IP_FROM = 150_000


def upgrade():
    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("monthly_volume", sa.Integer(), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("monthly_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("annual_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("dedicated_ip_included", sa.Boolean(), nullable=False),
        sa.Column("extra_ip_monthly_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("administrative_mandate_allowed", sa.Boolean(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        sa.UniqueConstraint("code", name=op.f("uq_plan_code")),
    )

    plan = sa.table(
        "plan",
        sa.column("code", sa.String),
        sa.column("monthly_volume", sa.Integer),
        sa.column("daily_limit", sa.Integer),
        sa.column("monthly_price", sa.Numeric(12, 2)),
        sa.column("annual_price", sa.Numeric(12, 2)),
        sa.column("dedicated_ip_included", sa.Boolean),
        sa.column("extra_ip_monthly_price", sa.Numeric(12, 2)),
        sa.column("administrative_mandate_allowed", sa.Boolean),
        sa.column("available", sa.Boolean),
    )
    op.bulk_insert(
        plan,
        [
            {
                "code": code,
                "monthly_volume": volume,
                "daily_limit": daily,
                "monthly_price": Decimal(monthly),
                "annual_price": Decimal(annual) if annual else None,
                "dedicated_ip_included": volume >= DEDICATED_IP_FROM,
                "extra_ip_monthly_price": Decimal(extra_ip) if extra_ip else None,
                "administrative_mandate_allowed": volume >= DEDICATED_IP_FROM,
                "available": True,
            }
            for code, volume, daily, monthly, annual, extra_ip in PLANS
        ],
    )
    op.create_table(
        "ip_pool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("ip_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_ip_pool_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_pool")),
        sa.UniqueConstraint("name", name=op.f("uq_ip_pool_name")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_ip_pool_organisation_id")),
    )
    op.create_table(
        "plan_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("billing_cycle", sa.String(length=10), nullable=False),
        sa.Column("anchor_day", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_plan_id", sa.Integer(), nullable=True),
        sa.Column("pending_billing_cycle", sa.String(length=10), nullable=True),
        sa.Column("pending_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "billing_cycle IN ('monthly', 'annual')",
            name=op.f("ck_plan_subscription_billing_cycle_known"),
        ),
        sa.CheckConstraint(
            "anchor_day BETWEEN 1 AND 31", name=op.f("ck_plan_subscription_anchor_day_in_month")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_plan_subscription_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["pending_plan_id"], ["plan.id"], name=op.f("fk_plan_subscription_pending_plan_id_plan")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_plan_subscription_plan_id_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_subscription")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_plan_subscription_organisation_id")),
    )
    op.create_table(
        "quota_counter",
        sa.Column("organisation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cycle_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cycle_credits", sa.Integer(), nullable=False),
        sa.Column("cycle_used", sa.Integer(), nullable=False),
        sa.Column("day_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("day_used", sa.Integer(), nullable=False),
        sa.Column("last_grant", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "cycle_used >= 0 AND cycle_used <= cycle_credits",
            name=op.f("ck_quota_counter_cycle_within"),
        ),
        sa.CheckConstraint(
            "daily_limit IS NULL OR (day_used >= 0 AND day_used <= daily_limit)",
            name=op.f("ck_quota_counter_day_within"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_quota_counter_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_quota_counter")),
    )
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "timezone", sa.String(length=64), server_default="Europe/Paris", nullable=False
            )
        )


def downgrade():
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("timezone")

    op.drop_table("quota_counter")
    op.drop_table("plan_subscription")
    op.drop_table("ip_pool")
    op.drop_table("plan")
