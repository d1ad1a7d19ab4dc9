"""Join the contact-lists branch of the schema.

Revision ID: 0003
Revises: 0002, mail_0001
Create Date: 2026-11-25 08:00:00
"""

revision = "0003"
down_revision = ("0002", "mail_0001")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
