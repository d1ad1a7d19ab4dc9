"""Join the consent evidence and integrations branches of the schema.

Revision ID: 0005
Revises: consent_0002, integrations_0001
Create Date: 2026-11-30 18:56:19
"""

revision = "0005"
down_revision = ("consent_0002", "integrations_0001")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
