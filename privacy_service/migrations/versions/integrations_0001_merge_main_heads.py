"""merge: integrations (idempotency keys, webhooks, contact corrections) with plans and outbox

Revision ID: integrations_0001
Revises: 0004, requests_0002
Create Date: 2026-11-30 17:25:00.000000

Joins the two heads; no schema change.
"""

# revision identifiers, used by Alembic.
revision = "integrations_0001"
down_revision = ("0004", "requests_0002")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
