"""Join the plans billing branches of the schema.

Revision ID: 0006
Revises: 0005, plans_0003
Create Date: 2026-11-30 19:19:20
"""

revision = "0006"
down_revision = ("0005", "plans_0003")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
