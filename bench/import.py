"""Benchmark: importing 100,000 CSV rows into a list, against a bare bulk INSERT of the same rows.

    .venv/bin/python bench/import.py [--rows 100000] [--database-url postgresql+psycopg://...]

Runs against PostgreSQL in its own database (default ``bench_lists`` on 127.0.0.1, created if
missing; its ``public`` schema is dropped and rebuilt by the migrations). All figures come from
the same run on the same database:

* bare bulk INSERT into the same tables (the baseline of the target): the rows, already parsed,
  written with plain multi-row INSERTs into ``contact``, ``list_membership``, ``consent_record``
  and ``consent_state`` (each subscription is a consent record, issue 14) in one transaction:
  no validation, no blind index (the address itself is the key), no encryption, no guard, no
  look-ups, no checkpoints;
* bare bulk INSERT into a plain table (for scale): the same rows as five text columns in a table
  with a primary key only, which is what the storage itself costs without this schema's four
  tables, their indexes, foreign keys and encrypted values;
* import: the service's whole path: upload (decode, parse, store the file encrypted), then the
  worker (address checks, blind indexes, sensitive-data guard, suppression and list look-ups,
  encryption, contacts + memberships + consent records and states + checkpoint committed batch
  by batch).

Target (issue 5): import rows/s >= 0.3 x bare bulk INSERT rows/s.
"""

from __future__ import annotations

import argparse
import csv
import io
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import bench_app, recreate_database

TARGET_RATIO = 0.3
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_lists"


def make_rows(count: int) -> list[list[str]]:
    rows = []
    for n in range(count):
        phone = f"+33 6 {n % 100:02d} {n % 97:02d} {n % 89:02d} {n % 83:02d}"
        rows.append(
            [
                f"person{n}@example{n % 50}.org",
                f"Personne {n} Müller",
                f"{75000 + n % 20} Paris",
                phone,
                f"customer since {2000 + n % 24}, order {n * 7919}",
            ]
        )
    return rows


def to_csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def bare_insert_into_same_tables(db, header: list[str], rows: list[list[str]]) -> float:
    """The rows into ``contact`` and ``list_membership`` with nothing but bulk INSERTs."""
    now = datetime.now(UTC)
    organisation_id = db.session.execute(
        text(
            "INSERT INTO organisation (name, is_operator, created_at) VALUES ('Bare', false, :now)"
            " RETURNING id"
        ),
        {"now": now},
    ).scalar_one()
    list_id = db.session.execute(
        text(
            "INSERT INTO contact_list (organisation_id, name, kind, form_enabled, form_key,"
            " created_at, updated_at) VALUES (:org, 'Bare', 'marketing', false, 'bare', :now, :now)"
            " RETURNING id"
        ),
        {"org": organisation_id, "now": now},
    ).scalar_one()
    db.session.commit()
    consent_at = datetime(2024, 1, 15, tzinfo=UTC)
    started = time.perf_counter()
    ids = db.session.scalars(
        text("SELECT nextval(pg_get_serial_sequence('contact', 'id')) FROM generate_series(1, :n)"),
        {"n": len(rows)},
    ).all()
    db.session.execute(
        text(
            "INSERT INTO contact (id, organisation_id, email, email_index, name, attributes,"
            " created_at, updated_at) VALUES (:id, :org, :email, :email_index, :name, :attributes,"
            " :now, :now)"
        ),
        [
            {
                "id": contact_id,
                "org": organisation_id,
                "email": row[0].encode(),
                "email_index": row[0].lower(),
                "name": row[1].encode(),
                "attributes": "|".join(row[2:]).encode(),
                "now": now,
            }
            for contact_id, row in zip(ids, rows, strict=True)
        ],
    )
    db.session.execute(
        text(
            "INSERT INTO list_membership (list_id, contact_id, status, origin, consent_source,"
            " consent_at, created_at, updated_at) VALUES (:list_id, :contact_id, 'subscribed',"
            " 'import', 'Bench sign-up form', :consent_at, :now, :now)"
        ),
        [
            {"list_id": list_id, "contact_id": contact_id, "consent_at": consent_at, "now": now}
            for contact_id in ids
        ],
    )
    # One truth for consent (issue 14): each subscription is also a consent record and the
    # subject's current consent state, so the baseline writes those two tables as well.
    purpose_id = db.session.execute(
        text("SELECT id FROM consent_purpose WHERE code = 'marketing_email'")
    ).scalar_one()
    record_ids = db.session.scalars(
        text(
            "SELECT nextval(pg_get_serial_sequence('consent_record', 'id'))"
            " FROM generate_series(1, :n)"
        ),
        {"n": len(rows)},
    ).all()
    db.session.execute(
        text(
            "INSERT INTO consent_record (id, email, email_index, organisation_id, purpose_id,"
            " granted, policy_version, source, occurred_at, recorded_at, recorded_by,"
            " attested_source, list_id) VALUES (:id, :email, :email_index, :org, :purpose, true,"
            " '1', 'import', :consent_at, :now, 'bench', 'Bench sign-up form', :list_id)"
        ),
        [
            {
                "id": record_id,
                "email": row[0].encode(),
                "email_index": row[0].lower(),
                "org": organisation_id,
                "purpose": purpose_id,
                "consent_at": consent_at,
                "now": now,
                "list_id": list_id,
            }
            for record_id, row in zip(record_ids, rows, strict=True)
        ],
    )
    db.session.execute(
        text(
            "INSERT INTO consent_state (email_index, purpose_id, organisation_id, record_id,"
            " granted, occurred_at, policy_version, source) VALUES (:email_index, :purpose, :org,"
            " :record_id, true, :consent_at, '1', 'import')"
        ),
        [
            {
                "email_index": row[0].lower(),
                "purpose": purpose_id,
                "org": organisation_id,
                "record_id": record_id,
                "consent_at": consent_at,
            }
            for record_id, row in zip(record_ids, rows, strict=True)
        ],
    )
    db.session.commit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--batch-size", type=int, default=1000)
    options = parser.parse_args()

    from flask_migrate import upgrade

    from privacy_service.accounts.models import Organisation
    from privacy_service.extensions import db
    from privacy_service.mail import imports
    from privacy_service.mail.models import ContactList, ImportJob, ListMembership

    recreate_database(options.database_url)
    app = bench_app(options.database_url, "lists")
    header = ["email", "name", "city", "phone", "notes"]
    rows = make_rows(options.rows)
    content = to_csv(header, rows)

    with app.app_context():
        upgrade()
        same_tables_seconds = bare_insert_into_same_tables(db, header, rows)
        # For scale: the same rows, plain, one bulk INSERT into a table without constraints.
        db.session.execute(
            text(
                "CREATE TABLE bench_plain_contact (id serial PRIMARY KEY, email text, name text,"
                " city text, phone text, notes text)"
            )
        )
        db.session.commit()
        plain = [dict(zip(header, row, strict=True)) for row in rows]
        statement = text(
            "INSERT INTO bench_plain_contact (email, name, city, phone, notes)"
            " VALUES (:email, :name, :city, :phone, :notes)"
        )
        started = time.perf_counter()
        db.session.execute(statement, plain)
        db.session.commit()
        baseline_seconds = time.perf_counter() - started

        now = datetime.now(UTC)
        organisation = Organisation(name="Bench Ltd", created_at=now)
        db.session.add(organisation)
        db.session.flush()
        contact_list = ContactList(
            organisation_id=organisation.id,
            name="Bench list",
            kind="marketing",
            form_enabled=False,
            form_key=secrets.token_urlsafe(16),
            created_at=now,
            updated_at=now,
        )
        db.session.add(contact_list)
        db.session.commit()

        with app.test_request_context():
            started = time.perf_counter()
            job = imports.create_import(
                contact_list, "bench.csv", content, "auto", "auto", now, None
            )
            imports.start_import(
                job,
                contact_list,
                ["email", "name", "attribute", "attribute", "attribute"],
                "Bench sign-up form",
                datetime(2024, 1, 15, tzinfo=UTC),
                now,
                "bench",
            )
            db.session.commit()
            outcomes = imports.process_queued_imports(
                lambda: datetime.now(UTC), batch_size=options.batch_size
            )
            import_seconds = time.perf_counter() - started

        db.session.expire_all()
        job = db.session.get(ImportJob, outcomes[0].job_id)
        members = db.session.scalar(
            text("SELECT count(*) FROM list_membership WHERE list_id = :id"),
            {"id": contact_list.id},
        )
        assert job.state == "done", job.state
        assert members == job.imported_count == options.rows, (members, job.imported_count)
        assert db.session.query(ListMembership).count() == 2 * options.rows
        records = db.session.scalar(
            text("SELECT count(*) FROM consent_record WHERE list_id = :id"),
            {"id": contact_list.id},
        )
        assert records == options.rows, records

    rows_count = options.rows
    same_rate = rows_count / same_tables_seconds
    plain_rate = rows_count / baseline_seconds
    import_rate = rows_count / import_seconds
    ratio = import_rate / same_rate
    print(f"rows:                                  {rows_count:,}")
    print(f"database:                              {options.database_url.rsplit('@', 1)[-1]}")
    print(
        f"bare bulk INSERT, same tables:         {same_tables_seconds:6.2f} s"
        f"  {same_rate:10,.0f} rows/s"
    )
    print(
        f"bare bulk INSERT, plain table:         {baseline_seconds:6.2f} s"
        f"  {plain_rate:10,.0f} rows/s"
    )
    print(
        f"import (full path):                    {import_seconds:6.2f} s"
        f"  {import_rate:10,.0f} rows/s  ({outcomes[0].batches} batches of {options.batch_size})"
    )
    print(f"ratio to same tables:                  {ratio:.2f}x  (target >= {TARGET_RATIO}x)")
    print(f"ratio to plain table:                  {import_rate / plain_rate:.2f}x")
    print(
        "result:                                "
        + ("OK" if ratio >= TARGET_RATIO else "BELOW TARGET")
    )


if __name__ == "__main__":
    main()
