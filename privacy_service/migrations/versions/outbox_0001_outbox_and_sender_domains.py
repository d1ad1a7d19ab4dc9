"""outbox and sender domains

One outbox for every message (``outbox_message``), the organisations' sender domains with their
DKIM keys and their confirmed sender addresses, and three nullable columns on ``message_event``
(campaign, outbox row, status code). New tables and nullable columns only: nothing existing is
rewritten. ``request_message`` stays for now: the previous version may still be writing to it
during a rolling upgrade; ``requests.deliver_messages`` moves what it holds into the outbox.

Revision ID: outbox_0001
Revises: 0003
Create Date: 2026-12-01 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "outbox_0001"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.LargeBinary(), nullable=True),
        sa.Column("recipient_index", sa.String(length=64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=40), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("pool", sa.String(length=40), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_outbox_message_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_outbox_message_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_message_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_recipient_index"), ["recipient_index"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_message_status_next_attempt_at",
            ["status", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "sender_domain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("dkim_selector", sa.String(length=63), nullable=False),
        sa.Column("dkim_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("dkim_public_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_sender_domain_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_domain")),
        sa.UniqueConstraint(
            "organisation_id", "domain", name=op.f("uq_sender_domain_organisation_id_domain")
        ),
    )
    op.create_table(
        "sender_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.LargeBinary(), nullable=True),
        sa.Column("confirmation_nonce", sa.String(length=32), nullable=True),
        sa.Column("confirmation_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["sender_domain.id"],
            name=op.f("fk_sender_address_domain_id_sender_domain"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_sender_address_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_address")),
        sa.UniqueConstraint(
            "organisation_id",
            "email_index",
            name=op.f("uq_sender_address_organisation_id_email_index"),
        ),
    )
    with op.batch_alter_table("sender_address", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sender_address_domain_id"), ["domain_id"], unique=False
        )

    with op.batch_alter_table("message_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("outbox_message_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("code", sa.String(length=40), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_message_event_campaign_id"), ["campaign_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("message_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_event_campaign_id"))
        batch_op.drop_column("code")
        batch_op.drop_column("outbox_message_id")
        batch_op.drop_column("campaign_id")
    with op.batch_alter_table("sender_address", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sender_address_domain_id"))
    op.drop_table("sender_address")
    op.drop_table("sender_domain")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_status_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_outbox_message_recipient_index"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_contact_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_campaign_id"))
    op.drop_table("outbox_message")
