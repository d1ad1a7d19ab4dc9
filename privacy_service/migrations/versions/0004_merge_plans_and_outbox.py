"""Join the plans and outbox branches of the schema.

Revision ID: 0004
Revises: plans_0001, outbox_0001
Create Date: 2026-11-30 17:10:44
"""

revision = "0004"
down_revision = ("plans_0001", "outbox_0001")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
