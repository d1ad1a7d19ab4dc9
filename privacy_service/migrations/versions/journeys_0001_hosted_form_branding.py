"""contact_list: the customer's logo, extra fields and redirect on hosted subscription pages

Revision ID: journeys_0001
Revises: retention_0003
Create Date: 2026-11-30 21:05:00

"""

import sqlalchemy as sa
from alembic import op

revision = "journeys_0001"
down_revision = "retention_0003"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable additions only: no table rewrite on PostgreSQL, the previous code keeps working.
    with op.batch_alter_table("contact_list") as batch:
        batch.add_column(sa.Column("form_logo_url", sa.String(500), nullable=True))
        batch.add_column(sa.Column("form_redirect_url", sa.String(500), nullable=True))
        batch.add_column(sa.Column("form_fields", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("contact_list") as batch:
        batch.drop_column("form_fields")
        batch.drop_column("form_redirect_url")
        batch.drop_column("form_logo_url")
