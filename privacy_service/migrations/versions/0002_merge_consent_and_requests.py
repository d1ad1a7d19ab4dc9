"""Join the consent and data-subject request branches of the schema.

Revision ID: 0002
Revises: consent_0001, requests_0001
Create Date: 2026-11-25 07:45:47.750931
"""

revision = "0002"
down_revision = ("consent_0001", "requests_0001")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
