"""operator: transfer safeguards, sub-processors, policy versions and notices, consent renewals,
breaches and their notices, requests from authorities, testimonials (issue 11)

Revision ID: operator_0001
Revises: 0006
Create Date: 2026-11-30 20:10:30.571040

New tables only (no lock on anything existing). Testimonial email, name and job title are
AES-GCM ciphertext.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "operator_0001"
down_revision = "retention_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "breach",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nature", sa.Text(), nullable=False),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("subjects_estimate", sa.Integer(), nullable=False),
        sa.Column("records_estimate", sa.Integer(), nullable=False),
        sa.Column("consequences", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("authority_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("authority_notification_means", sa.String(length=200), nullable=True),
        sa.Column("authority_reference", sa.String(length=120), nullable=True),
        sa.Column("late_reason", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach")),
    )
    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("text_fr", sa.Text(), nullable=False),
        sa.Column("affects_consent", sa.Boolean(), nullable=False),
        sa.Column("published_by", sa.String(length=120), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewals_flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_version")),
        sa.UniqueConstraint("kind", "version", name=op.f("uq_policy_version_kind_version")),
    )
    op.create_table(
        "testimonial",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("name", sa.LargeBinary(), nullable=False),
        sa.Column("job_title", sa.LargeBinary(), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_testimonial")),
    )
    with op.batch_alter_table("testimonial", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_testimonial_email_index"), ["email_index"], unique=False
        )

    op.create_table(
        "transfer_safeguard",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=253), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("mechanism", sa.String(length=10), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_safeguard")),
    )
    op.create_table(
        "authority_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("notification_forbidden", sa.Boolean(), nullable=False),
        sa.Column("prohibition_reference", sa.String(length=200), nullable=True),
        sa.Column("customer_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_authority_request_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority_request")),
    )
    with op.batch_alter_table("authority_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authority_request_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "breach_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("breach_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("queued_by", sa.String(length=120), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["breach_id"],
            ["breach.id"],
            name=op.f("fk_breach_notification_breach_id_breach"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_notification")),
    )
    op.create_table(
        "consent_renewal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("purpose_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("previous_version", sa.String(length=40), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_consent_renewal_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["policy_version.id"],
            name=op.f("fk_consent_renewal_policy_version_id_policy_version"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purpose.id"],
            name=op.f("fk_consent_renewal_purpose_id_consent_purpose"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_renewal")),
        sa.UniqueConstraint(
            "policy_version_id",
            "record_id",
            name=op.f("uq_consent_renewal_policy_version_id_record_id"),
        ),
    )
    with op.batch_alter_table("consent_renewal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_renewal_email_index"), ["email_index"], unique=False
        )

    op.create_table(
        "sub_processor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("purpose_en", sa.Text(), nullable=False),
        sa.Column("purpose_fr", sa.Text(), nullable=False),
        sa.Column("data_categories", sa.String(length=400), nullable=False),
        sa.Column("safeguard_id", sa.Integer(), nullable=True),
        sa.Column("added_by", sa.String(length=120), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["safeguard_id"],
            ["transfer_safeguard.id"],
            name=op.f("fk_sub_processor_safeguard_id_transfer_safeguard"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sub_processor")),
        sa.UniqueConstraint("name", name=op.f("uq_sub_processor_name")),
    )
    op.create_table(
        "policy_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["policy_version.id"],
            name=op.f("fk_policy_notice_policy_version_id_policy_version"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_policy_notice_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_notice")),
        sa.UniqueConstraint(
            "policy_version_id", "user_id", name=op.f("uq_policy_notice_policy_version_id_user_id")
        ),
    )
    with op.batch_alter_table("policy_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_notice_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("policy_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_notice_user_id"))

    op.drop_table("policy_notice")
    op.drop_table("sub_processor")
    with op.batch_alter_table("consent_renewal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_renewal_email_index"))

    op.drop_table("consent_renewal")
    op.drop_table("breach_notification")
    with op.batch_alter_table("authority_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authority_request_organisation_id"))

    op.drop_table("authority_request")
    op.drop_table("transfer_safeguard")
    with op.batch_alter_table("testimonial", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_testimonial_email_index"))

    op.drop_table("testimonial")
    op.drop_table("policy_version")
    op.drop_table("breach")
