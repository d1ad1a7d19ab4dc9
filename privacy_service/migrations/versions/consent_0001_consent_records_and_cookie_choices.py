"""consent records, purposes and cookie choices

Revision ID: consent_0001
Revises: 0001
Create Date: 2026-11-25 06:58:39.810595

Purposes are data: the five the privacy policy names are seeded here; the DPO adds more.
``consent_state`` holds the newest record per subject, purpose and organisation (maintained by
the application with each append); two partial unique indexes because NULL (the operator's own
scope) never equals NULL in a unique index.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "consent_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "consent_purpose",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("name_en", sa.String(length=120), nullable=False),
        sa.Column("name_fr", sa.String(length=120), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("description_fr", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(length=30), nullable=False),
        sa.Column("customer_use", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_purpose")),
        sa.UniqueConstraint("code", name=op.f("uq_consent_purpose_code")),
    )
    purposes = sa.table(
        "consent_purpose",
        sa.column("code", sa.String),
        sa.column("name_en", sa.String),
        sa.column("name_fr", sa.String),
        sa.column("description_en", sa.Text),
        sa.column("description_fr", sa.Text),
        sa.column("legal_basis", sa.String),
        sa.column("customer_use", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    seeded_at = datetime(2026, 1, 1, tzinfo=UTC)
    op.bulk_insert(
        purposes,
        [
            {
                # Privacy policy, "Newsletter and marketing emails".
                "code": "marketing_email",
                "name_en": "Marketing emails (newsletter)",
                "name_fr": "Emails marketing (newsletter)",
                "description_en": (
                    "News and offers about our services and those of our partner companies, "
                    "sent by email. Every email has an unsubscribe link."
                ),
                "description_fr": (
                    "Actualités et offres sur nos services et ceux de nos sociétés partenaires, "
                    "envoyées par email. Chaque email contient un lien de désinscription."
                ),
                "legal_basis": "consent",
                "customer_use": True,
                "created_at": seeded_at,
            },
            {
                # Privacy policy, "Email tracking" and section 2 (behavioural marketing).
                "code": "behavioural_tracking",
                "name_en": "Tracking of email opens and clicks",
                "name_fr": "Suivi des ouvertures et des clics dans les emails",
                "description_en": (
                    "Recording, for you personally, whether you open the emails you receive and "
                    "which links you click, to measure and improve email campaigns."
                ),
                "description_fr": (
                    "Enregistrer, pour vous personnellement, si vous ouvrez les emails reçus et "
                    "sur quels liens vous cliquez, afin de mesurer et d'améliorer les campagnes."
                ),
                "legal_basis": "consent",
                "customer_use": True,
                "created_at": seeded_at,
            },
            {
                # Privacy policy, "Cookies": audience measurement of the site.
                "code": "analytics_cookies",
                "name_en": "Audience measurement cookies",
                "name_fr": "Cookies de mesure d'audience",
                "description_en": (
                    "Cookies that let us count visits and see which pages are read, to improve "
                    "the content of our site."
                ),
                "description_fr": (
                    "Cookies qui nous permettent de compter les visites et de voir quelles pages "
                    "sont lues, afin d'améliorer le contenu de notre site."
                ),
                "legal_basis": "consent",
                "customer_use": False,
                "created_at": seeded_at,
            },
            {
                # Privacy policy, "Cookies": third parties advertising on the site.
                "code": "advertising_cookies",
                "name_en": "Advertising cookies",
                "name_fr": "Cookies publicitaires",
                "description_en": (
                    "Cookies set by advertising partners, who are responsible for them, to show "
                    "and measure advertisements."
                ),
                "description_fr": (
                    "Cookies déposés par des partenaires publicitaires, qui en sont responsables, "
                    "pour afficher et mesurer des publicités."
                ),
                "legal_basis": "consent",
                "customer_use": False,
                "created_at": seeded_at,
            },
            {
                # Privacy policy, "Testimonials": authorisation before any publication.
                "code": "testimonial_publication",
                "name_en": "Publication of your testimonial",
                "name_fr": "Publication de votre témoignage",
                "description_en": (
                    "Publishing your name, job title, company name and testimonial in our list "
                    "of customers and testimonials."
                ),
                "description_fr": (
                    "Publier votre nom, votre fonction, le nom de votre société et votre "
                    "témoignage dans notre liste de clients et de témoignages."
                ),
                "legal_basis": "consent",
                "customer_use": False,
                "created_at": seeded_at,
            },
        ],
    )
    op.create_table(
        "consent_text",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_consent_text")),
    )
    op.create_table(
        "consent_erasure_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_consent_erasure_tally_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purpose.id"],
            name=op.f("fk_consent_erasure_tally_purpose_id_consent_purpose"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_erasure_tally")),
    )
    op.create_table(
        "consent_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("purpose_id", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip_address", sa.LargeBinary(), nullable=True),
        sa.Column("user_agent", sa.LargeBinary(), nullable=True),
        sa.Column("text_sha256", sa.String(length=64), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_consent_record_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purpose.id"],
            name=op.f("fk_consent_record_purpose_id_consent_purpose"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_record")),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_record_email_index"), ["email_index"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_consent_record_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "consent_state",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("purpose_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_consent_state_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["purpose_id"],
            ["consent_purpose.id"],
            name=op.f("fk_consent_state_purpose_id_consent_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["consent_record.id"],
            name=op.f("fk_consent_state_record_id_consent_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_state")),
    )
    with op.batch_alter_table("consent_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_state_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_consent_state_record_id"), ["record_id"], unique=False)
        batch_op.create_index(
            "uq_consent_state_operator_subject",
            ["email_index", "purpose_id"],
            unique=True,
            sqlite_where=sa.text("organisation_id IS NULL"),
            postgresql_where=sa.text("organisation_id IS NULL"),
        )
        batch_op.create_index(
            "uq_consent_state_organisation_subject",
            ["email_index", "purpose_id", "organisation_id"],
            unique=True,
            sqlite_where=sa.text("organisation_id IS NOT NULL"),
            postgresql_where=sa.text("organisation_id IS NOT NULL"),
        )

    op.create_table(
        "cookie_choice",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("chosen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("preferences", sa.Boolean(), nullable=False),
        sa.Column("analytics", sa.Boolean(), nullable=False),
        sa.Column("advertising", sa.Boolean(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("gpc", sa.Boolean(), nullable=False),
        sa.Column("gpc_applied", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_cookie_choice_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cookie_choice")),
    )
    with op.batch_alter_table("cookie_choice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cookie_choice_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cookie_choice_visitor_id"), ["visitor_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("cookie_choice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cookie_choice_visitor_id"))
        batch_op.drop_index(batch_op.f("ix_cookie_choice_user_id"))

    op.drop_table("cookie_choice")
    with op.batch_alter_table("consent_state", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_consent_state_organisation_subject",
            sqlite_where=sa.text("organisation_id IS NOT NULL"),
            postgresql_where=sa.text("organisation_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_consent_state_operator_subject",
            sqlite_where=sa.text("organisation_id IS NULL"),
            postgresql_where=sa.text("organisation_id IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_consent_state_record_id"))
        batch_op.drop_index(batch_op.f("ix_consent_state_organisation_id"))

    op.drop_table("consent_state")
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_record_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_consent_record_email_index"))

    op.drop_table("consent_record")
    op.drop_table("consent_erasure_tally")
    op.drop_table("consent_text")
    op.drop_table("consent_purpose")
