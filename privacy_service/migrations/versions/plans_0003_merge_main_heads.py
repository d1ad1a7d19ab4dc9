"""join the plans billing branch (plans_0002) with main (outbox, integrations, webhooks)

Revision ID: plans_0003
Revises: integrations_0001, plans_0002
Create Date: 2026-11-30 18:40:00

"""

# revision identifiers, used by Alembic.
revision = "plans_0003"
down_revision = ("integrations_0001", "plans_0002")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
