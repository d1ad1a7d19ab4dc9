"""hardening: signed checkpoints of the audit chain's head

Revision ID: hardening_0001
Revises: retention_0002
Create Date: 2026-11-30 20:30:00.000000

A new table only (no lock on anything existing).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "hardening_0001"
down_revision = "retention_0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
        sa.UniqueConstraint("sequence", name=op.f("uq_audit_checkpoint_sequence")),
    )


def downgrade():
    op.drop_table("audit_checkpoint")
