"""list subscriptions as consent records; consent records and audit events append-only

Revision ID: consent_0002
Revises: 0003
Create Date: 2026-11-27 09:00:00

``consent_record`` gains the customer's attested source and two provenance marks (list, import
job), so a list subscription is one consent record with its evidence.

Triggers make ``consent_record`` and ``audit_event`` append-only in the database: every UPDATE and
DELETE is refused, except inside the audited paths of ``privacy_service/evidence.py`` (a flag for
the current transaction: PostgreSQL setting ``privacy_service.evidence_permit``; SQLite functions
registered on each connection). ``TRUNCATE`` fires no row trigger: refuse it by privileges.

SQLite: a later migration that rebuilds ``consent_record`` or ``audit_event`` (batch mode copies
the table) drops these triggers and must create them again; one that adds a column to
``consent_record`` must recreate ``consent_record_no_update`` with the column listed.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "consent_0002"
down_revision = "0003"
branch_labels = None
depends_on = None

ENCRYPTED = ("email", "ip_address", "user_agent")
PLAIN = (
    "id",
    "email_index",
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

POSTGRESQL_CREATE = """
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
    RAISE EXCEPTION 'consent_record is append-only evidence: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only evidence: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER consent_record_append_only BEFORE UPDATE OR DELETE ON consent_record
    FOR EACH ROW EXECUTE FUNCTION consent_record_append_only();

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS consent_record_append_only ON consent_record;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
DROP FUNCTION IF EXISTS consent_record_append_only();
DROP FUNCTION IF EXISTS audit_event_append_only();
"""

SQLITE_CREATE = (
    """CREATE TRIGGER consent_record_no_delete BEFORE DELETE ON consent_record
    WHEN coalesce(privacy_service_evidence_permit(), '') != 'purge'
    BEGIN SELECT RAISE(ABORT, 'consent_record is append-only evidence: DELETE refused'); END""",
    f"""CREATE TRIGGER consent_record_no_update BEFORE UPDATE OF {", ".join(PLAIN)}
    ON consent_record
    BEGIN SELECT RAISE(ABORT, 'consent_record is append-only evidence: UPDATE refused'); END""",
    f"""CREATE TRIGGER consent_record_no_reencrypt BEFORE UPDATE OF {", ".join(ENCRYPTED)}
    ON consent_record
    WHEN coalesce(privacy_service_evidence_permit(), '') != 'reencrypt'
    BEGIN SELECT RAISE(ABORT, 'consent_record is append-only evidence: UPDATE refused'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only evidence: DELETE refused'); END""",
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only evidence: UPDATE refused'); END""",
)
SQLITE_NAMES = (
    "consent_record_no_delete",
    "consent_record_no_update",
    "consent_record_no_reencrypt",
    "audit_event_no_delete",
    "audit_event_no_update",
)


def upgrade():
    # Plain ADD COLUMN (no batch copy): SQLite keeps the table, and so its triggers.
    op.add_column("consent_record", sa.Column("attested_source", sa.String(200), nullable=True))
    op.add_column("consent_record", sa.Column("list_id", sa.Integer(), nullable=True))
    op.add_column("consent_record", sa.Column("import_job_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_CREATE)
    else:
        for statement in SQLITE_CREATE:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_DROP)
    else:
        for name in SQLITE_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("consent_record") as batch:
        batch.drop_column("import_job_id")
        batch.drop_column("list_id")
        batch.drop_column("attested_source")
