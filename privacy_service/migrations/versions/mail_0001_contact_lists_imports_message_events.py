"""contact lists, imports, message events

Customers' contact lists and contacts (personal fields stored encrypted, looked up by blind
index), subscriptions with consent evidence, CSV import jobs with their rejected rows, and
sending/tracking events. New tables only: nothing existing is locked or rewritten.

Revision ID: mail_0001
Revises: 0001
Create Date: 2026-11-25 07:41:33.311280

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "mail_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("name", sa.LargeBinary(), nullable=True),
        sa.Column("attributes", sa.LargeBinary(), nullable=True),
        sa.Column("import_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_contact_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.UniqueConstraint(
            "email_index", "organisation_id", name=op.f("uq_contact_email_index_organisation_id")
        ),
    )
    op.create_table(
        "contact_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("form_enabled", sa.Boolean(), nullable=False),
        sa.Column("form_key", sa.String(length=32), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_contact_list_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_list")),
        sa.UniqueConstraint("form_key", name=op.f("uq_contact_list_form_key")),
        sa.UniqueConstraint(
            "organisation_id", "name", name=op.f("uq_contact_list_organisation_id_name")
        ),
    )
    with op.batch_alter_table("contact_list", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_list_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.LargeBinary(), nullable=True),
        sa.Column("file_content", sa.LargeBinary(), nullable=True),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=False),
        sa.Column("headers", sa.LargeBinary(), nullable=False),
        sa.Column("mapping", sa.LargeBinary(), nullable=True),
        sa.Column("consent_source", sa.String(length=200), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("imported_count", sa.Integer(), nullable=False),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_import_job_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["contact_list.id"],
            name=op.f("fk_import_job_list_id_contact_list"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_import_job_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_job_list_id"), ["list_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_import_job_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_import_job_state"), ["state"], unique=False)

    op.create_table(
        "list_membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("consent_source", sa.String(length=200), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_ip", sa.LargeBinary(), nullable=True),
        sa.Column("consent_user_agent", sa.LargeBinary(), nullable=True),
        sa.Column("consent_text_hash", sa.String(length=64), nullable=True),
        sa.Column("confirmation_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmation_nonce", sa.String(length=32), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("import_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_list_membership_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["contact_list.id"],
            name=op.f("fk_list_membership_list_id_contact_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_membership")),
        sa.UniqueConstraint(
            "list_id", "contact_id", name=op.f("uq_list_membership_list_id_contact_id")
        ),
    )
    with op.batch_alter_table("list_membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_list_membership_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "message_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("campaign_ref", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_message_event_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_message_event_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_event")),
    )
    with op.batch_alter_table("message_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_event_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_message_event_email_index"), ["email_index"], unique=False
        )
        batch_op.create_index(
            "ix_message_event_organisation_occurred",
            ["organisation_id", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "import_reject",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("column_name", sa.LargeBinary(), nullable=True),
        sa.Column("detail", sa.String(length=40), nullable=True),
        sa.Column("row_values", sa.LargeBinary(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["import_job.id"],
            name=op.f("fk_import_reject_job_id_import_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_reject")),
        sa.UniqueConstraint(
            "job_id", "row_number", name=op.f("uq_import_reject_job_id_row_number")
        ),
    )
    with op.batch_alter_table("import_reject", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_import_reject_email_index"), ["email_index"], unique=False
        )


def downgrade():
    with op.batch_alter_table("import_reject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_reject_email_index"))

    op.drop_table("import_reject")
    with op.batch_alter_table("message_event", schema=None) as batch_op:
        batch_op.drop_index("ix_message_event_organisation_occurred")
        batch_op.drop_index(batch_op.f("ix_message_event_email_index"))
        batch_op.drop_index(batch_op.f("ix_message_event_contact_id"))

    op.drop_table("message_event")
    with op.batch_alter_table("list_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_membership_contact_id"))

    op.drop_table("list_membership")
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_job_state"))
        batch_op.drop_index(batch_op.f("ix_import_job_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_import_job_list_id"))

    op.drop_table("import_job")
    with op.batch_alter_table("contact_list", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_list_organisation_id"))

    op.drop_table("contact_list")
    op.drop_table("contact")
