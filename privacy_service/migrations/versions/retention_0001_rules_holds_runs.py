"""retention rules, legal holds, purge runs; organisation.purged_at

Revision ID: retention_0001
Revises: 0006
Create Date: 2026-11-30 20:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "retention_0001"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "retention_rule",
        sa.Column("category", sa.String(60), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_retention_rule")),
    )
    op.create_table(
        "legal_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("subject_index", sa.String(64), nullable=True),
        sa.Column("reason", sa.LargeBinary(), nullable=False),
        sa.Column("placed_by", sa.String(120), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(120), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_legal_hold_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_hold")),
    )
    op.create_index(
        op.f("ix_legal_hold_organisation_id"), "legal_hold", ["organisation_id"], unique=False
    )
    op.create_index(
        op.f("ix_legal_hold_subject_index"), "legal_hold", ["subject_index"], unique=False
    )
    op.create_table(
        "purge_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error_type", sa.String(120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_run")),
    )
    op.create_index(op.f("ix_purge_run_started_at"), "purge_run", ["started_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_purge_run_started_at"), table_name="purge_run")
    op.drop_table("purge_run")
    op.drop_index(op.f("ix_legal_hold_subject_index"), table_name="legal_hold")
    op.drop_index(op.f("ix_legal_hold_organisation_id"), table_name="legal_hold")
    op.drop_table("legal_hold")
    op.drop_table("retention_rule")
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("purged_at")
