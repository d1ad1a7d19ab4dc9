"""requests: correction of contact data and of the address; notices to organisations

Revision ID: requests_0002
Revises: webhooks_0001
Create Date: 2026-11-30 16:53:47.836422

Nullable columns added to data_subject_request (no rewrite, no long lock) and a new table.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "requests_0002"
down_revision = "webhooks_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "contact_correction_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_contact_correction_notice_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_contact_correction_notice_organisation_id_organisation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_subject_request.id"],
            name=op.f("fk_contact_correction_notice_request_id_data_subject_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_correction_notice")),
    )
    with op.batch_alter_table("contact_correction_notice", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_correction_notice_organisation_id"),
            ["organisation_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_contact_correction_notice_request_id"), ["request_id"], unique=False
        )

    with op.batch_alter_table("data_subject_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposed_contact_changes", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("new_email", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("new_email_confirmed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("data_subject_request", schema=None) as batch_op:
        batch_op.drop_column("new_email_confirmed_at")
        batch_op.drop_column("new_email")
        batch_op.drop_column("proposed_contact_changes")

    with op.batch_alter_table("contact_correction_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_correction_notice_request_id"))
        batch_op.drop_index(batch_op.f("ix_contact_correction_notice_organisation_id"))

    op.drop_table("contact_correction_notice")
