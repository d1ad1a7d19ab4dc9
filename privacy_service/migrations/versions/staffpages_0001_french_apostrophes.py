"""French typography in the seeded consent purposes: ’ instead of the ASCII apostrophe

Revision ID: staffpages_0001
Revises: retention_0003
Create Date: 2026-11-30 21:15:00

The purposes seeded by consent_0001 wrote "mesure d'audience"; French pages use ’ everywhere
(issue 13). Past consents are unaffected: each keeps the exact text it was given, by SHA-256.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "staffpages_0001"
down_revision = "journeys_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "UPDATE consent_purpose SET name_fr = REPLACE(name_fr, '''', '’'), "
        "description_fr = REPLACE(description_fr, '''', '’')"
    )


def downgrade():
    # Typography only: nothing to undo.
    pass
