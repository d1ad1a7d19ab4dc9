"""Every table holding personal data has a retention category and a subject-data provider (or a
stated reason it is about no data subject): a new table cannot be forgotten."""

from __future__ import annotations

from sqlalchemy import Table

from privacy_service import subjects
from privacy_service.crypto import EncryptedBytes
from privacy_service.extensions import db
from privacy_service.retention import registry

# Columns that identify a person without being encrypted: blind indexes, pseudonymous ids,
# links to a person's row.
_IDENTIFYING_COLUMNS = {"visitor_id", "contact_id", "user_id"}


def holds_personal_data(table: Table) -> bool:
    return any(
        isinstance(column.type, EncryptedBytes)
        or column.name.endswith("_index")
        or column.name in _IDENTIFYING_COLUMNS
        for column in table.columns
    )


def personal_tables() -> list[str]:
    return sorted(t.name for t in db.metadata.sorted_tables if holds_personal_data(t))


def test_every_table_with_personal_data_has_a_retention_category(app):
    covered = registry.covered_tables()
    missing = [name for name in personal_tables() if name not in covered]
    assert missing == [], f"tables with personal data and no retention category: {missing}"


def test_the_heuristic_finds_the_obvious_tables(app):
    found = personal_tables()
    for name in ("contact", "user_account", "consent_record", "message_event", "cookie_choice"):
        assert name in found


def test_every_category_names_a_registered_subject_data_provider_or_why_not(app):
    sections = {provider.section for provider in subjects.providers()}
    problems = []
    for item in registry.categories():
        if not item.subject_sections and not item.no_subject_reason:
            problems.append(f"category {item.code}: no subject-data provider and no reason")
        problems += [
            f"category {item.code}: provider {section!r} is not registered"
            for section in item.subject_sections
            if section not in sections
        ]
    for name, declared in registry.organisation_tables().items():
        if not declared.subject_sections and not declared.no_subject_reason:
            problems.append(f"organisation table {name}: no subject-data provider and no reason")
        problems += [
            f"organisation table {name}: provider {section!r} is not registered"
            for section in declared.subject_sections
            if section not in sections
        ]
    assert problems == []


def test_declared_tables_exist(app):
    declared = set(registry.covered_tables())
    assert declared <= set(db.metadata.tables), declared - set(db.metadata.tables)


def test_a_new_table_with_personal_data_and_no_category_fails_the_check(app):
    from sqlalchemy import Column, Integer, MetaData, String

    scratch = Table(
        "forgotten_table",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("email_index", String(64)),
    )
    assert holds_personal_data(scratch)
    assert "forgotten_table" not in registry.covered_tables()


def test_every_organisation_table_reaches_its_organisation(app):
    from privacy_service.retention.organisations import organisation_condition

    for name in registry.organisation_tables():
        # Raises when a table has neither organisation_id nor a foreign key path to one.
        assert organisation_condition(name, 1) is not None
