"""organisation profiles, sending reviews, dedicated IP requests, payment methods, prepaid
balances and invoices

Revision ID: plans_0002
Revises: plans_0001
Create Date: 2026-11-30 17:05:00

Invoices are immutable once issued (a correction is a credit note): a trigger refuses any UPDATE
of ``invoice`` and ``invoice_line`` on both engines. A later migration that rebuilds either table
on SQLite (batch mode) must create the trigger again.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "plans_0002"
down_revision = "plans_0001"
branch_labels = None
depends_on = None

IMMUTABLE_TABLES = ("invoice", "invoice_line")


def _create_immutability_triggers():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION refuse_invoice_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'invoices are immutable once issued: issue a credit note'
                    USING ERRCODE = 'integrity_constraint_violation';
            END
            $$ LANGUAGE plpgsql
            """
        )
        for table in IMMUTABLE_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_invoice_change()"
            )
    else:
        for table in IMMUTABLE_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table} BEGIN "
                "SELECT RAISE(ABORT, 'invoices are immutable once issued: issue a credit note'); "
                "END"
            )


def _drop_immutability_triggers():
    for table in IMMUTABLE_TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS refuse_invoice_change()")


def upgrade():
    op.create_table(
        "invoice_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_invoice_counter")),
    )
    op.create_table(
        "dedicated_ip_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("ip_count", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_dedicated_ip_request_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dedicated_ip_request")),
    )
    with op.batch_alter_table("dedicated_ip_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dedicated_ip_request_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "invoice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("credited_invoice_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seller", sa.JSON(), nullable=False),
        sa.Column("buyer", sa.LargeBinary(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("vat_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("vat_treatment", sa.String(length=20), nullable=False),
        sa.Column("net_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("vat_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("gross_total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("payment_kind", sa.String(length=30), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["credited_invoice_id"],
            ["invoice.id"],
            name=op.f("fk_invoice_credited_invoice_id_invoice"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_invoice_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice")),
        sa.UniqueConstraint("number", name=op.f("uq_invoice_number")),
        sa.UniqueConstraint("year", "sequence", name=op.f("uq_invoice_year_sequence")),
    )
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "organisation_profile",
        sa.Column("organisation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("vat_number", sa.LargeBinary(), nullable=True),
        sa.Column("postal_address", sa.LargeBinary(), nullable=True),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column("expected_monthly_volume", sa.Integer(), nullable=True),
        sa.Column("contact_collection", sa.Text(), nullable=True),
        sa.Column("is_public_body", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_organisation_profile_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_organisation_profile")),
    )
    op.create_table(
        "payment_method",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("provider_token", sa.LargeBinary(), nullable=True),
        sa.Column("display_label", sa.String(length=80), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_payment_method_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_method")),
    )
    with op.batch_alter_table("payment_method", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_method_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "sending_review",
        sa.Column("organisation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_sending_review_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_sending_review")),
    )
    op.create_table(
        "invoice_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_invoice_line_invoice_id_invoice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_line")),
    )
    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_line_invoice_id"), ["invoice_id"], unique=False
        )

    op.create_table(
        "invoice_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("provider_reference", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.String(length=40), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_invoice_payment_invoice_id_invoice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_payment")),
    )
    with op.batch_alter_table("invoice_payment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_payment_invoice_id"), ["invoice_id"], unique=False
        )

    op.create_table(
        "prepaid_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("provider_reference", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoice.id"], name=op.f("fk_prepaid_entry_invoice_id_invoice")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_prepaid_entry_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepaid_entry")),
    )
    with op.batch_alter_table("prepaid_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prepaid_entry_organisation_id"), ["organisation_id"], unique=False
        )

    with op.batch_alter_table("plan_subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_method_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("shortfall_warned_for", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_plan_subscription_payment_method_id_payment_method"),
            "payment_method",
            ["payment_method_id"],
            ["id"],
        )
    _create_immutability_triggers()


def downgrade():
    _drop_immutability_triggers()
    with op.batch_alter_table("plan_subscription", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_plan_subscription_payment_method_id_payment_method"), type_="foreignkey"
        )
        batch_op.drop_column("shortfall_warned_for")
        batch_op.drop_column("payment_method_id")

    with op.batch_alter_table("prepaid_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prepaid_entry_organisation_id"))

    op.drop_table("prepaid_entry")
    with op.batch_alter_table("invoice_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_payment_invoice_id"))

    op.drop_table("invoice_payment")
    with op.batch_alter_table("invoice_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_line_invoice_id"))

    op.drop_table("invoice_line")
    op.drop_table("sending_review")
    with op.batch_alter_table("payment_method", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_method_organisation_id"))

    op.drop_table("payment_method")
    op.drop_table("organisation_profile")
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_organisation_id"))

    op.drop_table("invoice")
    with op.batch_alter_table("dedicated_ip_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dedicated_ip_request_organisation_id"))

    op.drop_table("dedicated_ip_request")
    op.drop_table("invoice_counter")
