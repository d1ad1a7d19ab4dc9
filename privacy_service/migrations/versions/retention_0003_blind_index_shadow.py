"""blind-index rotation: the shadow table (old index -> new index), and the "reindex" evidence
permit that lets the switch re-key consent records' ``email_index`` (and nothing else)

Revision ID: retention_0003
Revises: hardening_0001
Create Date: 2026-11-30 21:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "retention_0003"
down_revision = "hardening_0001"
branch_labels = None
depends_on = None


PLAIN_WITHOUT_INDEX = (
    "id",
    "organisation_id",
    "purpose_id",
    "granted",
    "policy_version",
    "source",
    "occurred_at",
    "recorded_at",
    "text_sha256",
    "recorded_by",
    "attested_source",
    "list_id",
    "import_job_id",
)

POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION consent_record_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    granted_permit text := coalesce(current_setting('privacy_service.evidence_permit', true), '');
BEGIN
    IF TG_OP = 'DELETE' AND granted_permit = 'purge' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND granted_permit = 'reencrypt'
       AND to_jsonb(NEW) - ARRAY['email', 'ip_address', 'user_agent']
           = to_jsonb(OLD) - ARRAY['email', 'ip_address', 'user_agent'] THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND granted_permit = 'reindex'
       AND to_jsonb(NEW) - 'email_index' = to_jsonb(OLD) - 'email_index' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'consent_record is append-only evidence: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

POSTGRESQL_FUNCTION_BEFORE = POSTGRESQL_FUNCTION.replace(
    """    IF TG_OP = 'UPDATE' AND granted_permit = 'reindex'
       AND to_jsonb(NEW) - 'email_index' = to_jsonb(OLD) - 'email_index' THEN
        RETURN NEW;
    END IF;
""",
    "",
)

_SQLITE_NO_UPDATE = """CREATE TRIGGER consent_record_no_update BEFORE UPDATE OF {columns}
    ON consent_record
    BEGIN SELECT RAISE(ABORT, 'consent_record is append-only evidence: UPDATE refused'); END"""
SQLITE_NO_REINDEX = """CREATE TRIGGER consent_record_no_reindex BEFORE UPDATE OF email_index
    ON consent_record
    WHEN coalesce(privacy_service_evidence_permit(), '') != 'reindex'
    BEGIN SELECT RAISE(ABORT, 'consent_record is append-only evidence: UPDATE refused'); END"""


def upgrade():
    op.create_table(
        "blind_index_shadow",
        sa.Column("old_index", sa.String(64), nullable=False),
        sa.Column("new_index", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("old_index", name=op.f("pk_blind_index_shadow")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_record_no_update")
        op.execute(_SQLITE_NO_UPDATE.format(columns=", ".join(PLAIN_WITHOUT_INDEX)))
        op.execute(SQLITE_NO_REINDEX)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION_BEFORE)
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_record_no_reindex")
        op.execute("DROP TRIGGER IF EXISTS consent_record_no_update")
        op.execute(
            _SQLITE_NO_UPDATE.format(columns=", ".join(("email_index", *PLAIN_WITHOUT_INDEX)))
        )
    op.drop_table("blind_index_shadow")
