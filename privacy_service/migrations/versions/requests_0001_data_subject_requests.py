"""data-subject requests: requests, timeline, notes, identity documents, exports, outbox

Revision ID: requests_0001
Revises: 0001
Create Date: 2026-11-25 06:57:56.324814

New tables only (nothing existing is touched, no long lock). Personal fields are LargeBinary
(AES-GCM ciphertext written by the app); ``email_index`` is the blind index used for look-ups.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "requests_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "data_subject_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("filed_by", sa.String(length=120), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("reply_to", sa.LargeBinary(), nullable=True),
        sa.Column("details", sa.LargeBinary(), nullable=True),
        sa.Column("proposed_changes", sa.LargeBinary(), nullable=True),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("original_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extension_months", sa.Integer(), nullable=False),
        sa.Column("address_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmation_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("reminded_7_days_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_2_days_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilment_state", sa.String(length=10), nullable=True),
        sa.Column("fulfilment_claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilment_attempts", sa.Integer(), nullable=False),
        sa.Column("fulfilment_actor", sa.String(length=120), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["user_account.id"],
            name=op.f("fk_data_subject_request_assignee_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_subject_request")),
    )
    with op.batch_alter_table("data_subject_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_subject_request_assignee_id"), ["assignee_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_data_subject_request_due_at"), ["due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_data_subject_request_email_index"), ["email_index"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_data_subject_request_fulfilment_state"),
            ["fulfilment_state"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_data_subject_request_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_data_subject_request_status"), ["status"], unique=False
        )

    op.create_table(
        "access_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=80), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("record_counts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_subject_request.id"],
            name=op.f("fk_access_export_request_id_data_subject_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_export")),
        sa.UniqueConstraint("file_name", name=op.f("uq_access_export_file_name")),
    )
    with op.batch_alter_table("access_export", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_export_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_access_export_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "request_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=30), nullable=True),
        sa.Column("to_status", sa.String(length=30), nullable=True),
        sa.Column("reason", sa.LargeBinary(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_subject_request.id"],
            name=op.f("fk_request_event_request_id_data_subject_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_event")),
    )
    with op.batch_alter_table("request_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_event_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "request_identity_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_subject_request.id"],
            name=op.f("fk_request_identity_document_request_id_data_subject_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_identity_document")),
        sa.UniqueConstraint("request_id", name=op.f("uq_request_identity_document_request_id")),
    )
    op.create_table(
        "request_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("template", sa.String(length=80), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("context", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_subject_request.id"],
            name=op.f("fk_request_message_request_id_data_subject_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_message")),
    )
    with op.batch_alter_table("request_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_message_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_request_message_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "request_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user_account.id"],
            name=op.f("fk_request_note_author_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_subject_request.id"],
            name=op.f("fk_request_note_request_id_data_subject_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_note")),
    )
    with op.batch_alter_table("request_note", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_note_request_id"), ["request_id"], unique=False
        )


def downgrade():
    # Dropping a table drops its indexes; children before their parent.
    for table in (
        "request_note",
        "request_message",
        "request_identity_document",
        "request_event",
        "access_export",
        "data_subject_request",
    ):
        op.drop_table(table)
