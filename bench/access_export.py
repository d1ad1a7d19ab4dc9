"""Benchmark: the access export of a subject with 50,000 records against raw SELECTs of its rows.

    .venv/bin/python bench/access_export.py [--records 50000] [--memory-scale 4] [--repeat 3]
                                            [--database-url postgresql+psycopg://...] [--profile]

Runs against PostgreSQL in its own database (default ``bench_export`` on 127.0.0.1, created if
missing; its ``public`` schema is dropped and rebuilt by the migrations). All figures come from
the same run on the same database:

* seed (bulk ``COPY`` through ``mail.bulk.insert_rows``, values encrypted as the app does): the
  subject holds ``--records`` rows: an account, 200 consent records in the operator's and in 50
  customer organisations' scopes, a contact in each of those organisations with list memberships
  (a fifth of the rows) spread over their lists, and sending/tracking events (the rest) in every
  organisation; 5,000 other people hold 125,000 rows, so every look-up picks the subject out of
  larger tables through its index;
* raw SELECTs (the baseline): the same rows read with plain SQL through psycopg (one query per
  table, joins for organisation, list and purpose names, rows fetched as tuples): no decryption,
  no JSON, no report, no ZIP, no encryption of the result;
* export: ``requests.export.build_export`` streaming every registered provider into the sealed
  ZIP (``data.json`` + ``report.html``), i.e. the access request's whole fulfilment work; also
  timed: the providers alone (iterating every ``export(subject)``: read, decrypt, shape);
* memory: the peak of Python allocations (tracemalloc) and the growth of the process's peak RSS
  during the export, for the subject and for a subject with ``--memory-scale`` times as many
  records: streamed means the peak stays far below the size of the data exported and does not
  follow the number of records.

Best of ``--repeat`` runs each. Target (issue 4): export speed >= 0.3 x raw SELECT speed, i.e.
raw time / export time >= 0.3. ``--profile`` prints a cProfile of the providers and of an export.
"""

from __future__ import annotations

import argparse
import io
import math
import secrets
import sys
import time
import tracemalloc
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import bench_app, recreate_database

TARGET_RATIO = 0.3
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_export"
ORGANISATIONS = 50
CONSENT_RECORDS = 200
STRANGERS = 5000
STRANGER_LISTS = 4
STRANGER_EVENTS = 20


@dataclass
class Mix:
    """How a subject's records spread over the features."""

    consent: int
    memberships: int
    events: int

    @classmethod
    def of(cls, records: int) -> Mix:
        consent = min(CONSENT_RECORDS, records // 10)
        memberships = (records - consent) // 5
        return cls(consent, memberships, records - consent - memberships)

    @property
    def lists_per_organisation(self) -> int:
        return math.ceil(self.memberships / ORGANISATIONS)


class Seeder:
    """Bulk rows for subjects, encrypted and indexed exactly as the service stores them."""

    def __init__(self, db, now: datetime) -> None:
        from privacy_service.accounts.models import Organisation

        self.db = db
        self.now = now
        self.home = Organisation(name="Bench home", created_at=now)
        self.organisations = [
            Organisation(name=f"Customer {n}", created_at=now) for n in range(ORGANISATIONS)
        ]
        db.session.add_all([self.home, *self.organisations])
        db.session.flush()
        self.lists: dict[int, list[int]] = {org.id: [] for org in self.organisations}
        self.purposes = {
            code: purpose_id
            for code, purpose_id in db.session.execute(text("SELECT code, id FROM consent_purpose"))
        }
        from privacy_service.consent.service import remember_text

        self.text_digest = remember_text("Yes, send me the newsletter of this sender.", now)

    def ensure_lists(self, per_organisation: int) -> None:
        from privacy_service.mail.bulk import insert_rows_returning_ids
        from privacy_service.mail.models import ContactList

        rows = []
        for organisation_id, ids in self.lists.items():
            for n in range(len(ids), per_organisation):
                rows.append(
                    {
                        "organisation_id": organisation_id,
                        "name": f"List {n}",
                        "kind": "marketing",
                        "form_enabled": False,
                        "form_key": secrets.token_hex(12),
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                )
        ids = insert_rows_returning_ids(ContactList.__table__, rows, "form_key")
        for row in rows:
            self.lists[row["organisation_id"]].append(ids[row["form_key"]])

    def subject(self, email: str, records: int) -> Mix:
        from privacy_service.accounts.models import User
        from privacy_service.consent.models import ConsentRecord
        from privacy_service.crypto import blind_index
        from privacy_service.mail.bulk import insert_rows, insert_rows_returning_ids
        from privacy_service.mail.models import Contact, ListMembership, MessageEvent

        mix = Mix.of(records)
        self.ensure_lists(mix.lists_per_organisation)
        index = blind_index(email)
        now = self.now
        self.db.session.add(
            User(
                organisation_id=self.home.id,
                email=email,
                email_index=index,
                first_name="Bench",
                last_name=email.split("@")[0],
                role="member",
                locale="en",
                created_at=now,
            )
        )
        scopes = [(None, "marketing_email"), (None, "analytics_cookies")] + [
            (org.id, "marketing_email") for org in self.organisations
        ]
        insert_rows(
            ConsentRecord.__table__,
            [
                {
                    "email": email,
                    "email_index": index,
                    "organisation_id": scopes[n % len(scopes)][0],
                    "purpose_id": self.purposes[scopes[n % len(scopes)][1]],
                    "granted": n % 3 != 2,
                    "policy_version": "1",
                    "source": "web_form",
                    "occurred_at": now - timedelta(days=n),
                    "recorded_at": now - timedelta(days=n),
                    "ip_address": "198.51.100.7",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Bench/1.0",
                    "text_sha256": self.text_digest,
                    "recorded_by": "api",
                }
                for n in range(mix.consent)
            ],
        )
        contact_ids = insert_rows_returning_ids(
            Contact.__table__,
            [
                {
                    "organisation_id": org.id,
                    "email": email,
                    "email_index": index,
                    "name": f"Bench person of {org.name}",
                    "attributes": {"city": "Lille", "customer_since": "2019"},
                    "created_at": now,
                    "updated_at": now,
                }
                for org in self.organisations
            ],
            "organisation_id",
        )
        memberships = []
        for n in range(mix.memberships):
            organisation = self.organisations[n % ORGANISATIONS]
            memberships.append(
                {
                    "list_id": self.lists[organisation.id][n // ORGANISATIONS],
                    "contact_id": contact_ids[organisation.id],
                    "status": "subscribed",
                    "origin": "double_opt_in",
                    "consent_source": "double opt-in",
                    "consent_at": now - timedelta(days=30),
                    "confirmed_at": now - timedelta(days=30),
                    "consent_ip": "198.51.100.7",
                    "consent_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Bench/1.0",
                    "consent_text_hash": self.text_digest,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        insert_rows(ListMembership.__table__, memberships)
        kinds = ("sent", "delivered", "opened", "clicked")
        insert_rows(
            MessageEvent.__table__,
            [
                {
                    "organisation_id": self.organisations[n % ORGANISATIONS].id,
                    "contact_id": contact_ids[self.organisations[n % ORGANISATIONS].id],
                    "email_index": index,
                    "kind": kinds[n % 4],
                    "campaign_ref": f"campaign-{n // 400}",
                    "occurred_at": now - timedelta(minutes=n),
                    "detail": {"url": f"https://shop.example/offer/{n}"} if n % 4 == 3 else None,
                }
                for n in range(mix.events)
            ],
        )
        self.db.session.commit()
        return mix

    def strangers(self, count: int) -> int:
        """``count`` other people with a few rows each (a realistic spread for the planner)."""
        from privacy_service.consent.models import ConsentRecord
        from privacy_service.crypto import blind_index
        from privacy_service.mail.bulk import insert_rows, insert_rows_returning_ids
        from privacy_service.mail.models import Contact, ListMembership, MessageEvent

        self.ensure_lists(STRANGER_LISTS)
        now = self.now
        people = [
            (f"stranger{n}@example.net", self.organisations[n % ORGANISATIONS].id)
            for n in range(count)
        ]
        indexes = {email: blind_index(email) for email, _ in people}
        insert_rows(
            ConsentRecord.__table__,
            [
                {
                    "email": email,
                    "email_index": indexes[email],
                    "organisation_id": organisation_id,
                    "purpose_id": self.purposes["marketing_email"],
                    "granted": True,
                    "policy_version": "1",
                    "source": "import",
                    "occurred_at": now,
                    "recorded_at": now,
                    "text_sha256": self.text_digest,
                    "recorded_by": "api",
                }
                for email, organisation_id in people
            ],
        )
        contact_ids = insert_rows_returning_ids(
            Contact.__table__,
            [
                {
                    "organisation_id": organisation_id,
                    "email": email,
                    "email_index": indexes[email],
                    "name": "Someone else",
                    "created_at": now,
                    "updated_at": now,
                }
                for email, organisation_id in people
            ],
            "email_index",
        )
        insert_rows(
            ListMembership.__table__,
            [
                {
                    "list_id": self.lists[organisation_id][n],
                    "contact_id": contact_ids[indexes[email]],
                    "status": "subscribed",
                    "origin": "import",
                    "consent_source": "import",
                    "consent_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for email, organisation_id in people
                for n in range(STRANGER_LISTS)
            ],
        )
        insert_rows(
            MessageEvent.__table__,
            [
                {
                    "organisation_id": organisation_id,
                    "contact_id": contact_ids[indexes[email]],
                    "email_index": indexes[email],
                    "kind": "sent",
                    "campaign_ref": f"campaign-{n}",
                    "occurred_at": now - timedelta(days=n),
                }
                for email, organisation_id in people
                for n in range(STRANGER_EVENTS)
            ],
        )
        self.db.session.commit()
        return count * (1 + STRANGER_LISTS + STRANGER_EVENTS)


# The same rows the providers read, with plain SQL: no decryption, nothing built from them.
RAW_QUERIES = {
    "account": "SELECT u.*, o.name FROM user_account u JOIN organisation o"
    " ON o.id = u.organisation_id WHERE u.email_index = %(index)s",
    "consent": "SELECT r.*, p.code, p.name_en, t.body FROM consent_record r"
    " JOIN consent_purpose p ON p.id = r.purpose_id"
    " LEFT JOIN consent_text t ON t.sha256 = r.text_sha256"
    " WHERE r.email_index = %(index)s ORDER BY r.occurred_at DESC, r.id DESC",
    "cookie_choices": "SELECT c.* FROM cookie_choice c JOIN user_account u ON u.id = c.user_id"
    " WHERE u.email_index = %(index)s ORDER BY c.id DESC",
    "contacts": "SELECT c.*, o.name FROM contact c JOIN organisation o"
    " ON o.id = c.organisation_id WHERE c.email_index = %(index)s ORDER BY c.id",
    "list_memberships": "SELECT m.*, l.name FROM list_membership m"
    " JOIN contact c ON c.id = m.contact_id JOIN contact_list l ON l.id = m.list_id"
    " WHERE c.email_index = %(index)s ORDER BY c.id, l.id",
    "rejected_import_rows": "SELECT r.*, j.organisation_id, j.list_id, j.created_at, j.headers"
    " FROM import_reject r JOIN import_job j ON j.id = r.job_id"
    " WHERE r.email_index = %(index)s ORDER BY r.id",
    "message_events": "SELECT * FROM message_event WHERE email_index = %(index)s ORDER BY id",
    "requests": "SELECT * FROM data_subject_request WHERE email_index = %(index)s ORDER BY id",
}


def raw_selects(dsn: str, index: str) -> tuple[float, dict[str, int]]:
    import psycopg

    counts: dict[str, int] = {}
    with psycopg.connect(dsn) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for name, query in RAW_QUERIES.items():
                cursor.execute(query, {"index": index})
                counts[name] = len(cursor.fetchall())
        seconds = time.perf_counter() - started
    return seconds, counts


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_growth(run) -> int:
    """Bytes the process's peak RSS rose above its RSS while ``run()`` ran (Linux: the peak is
    reset through /proc/self/clear_refs first, so seeding does not count)."""
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    run()
    return (_status_kib("VmHWM") - before) * 1024


def export(email: str, directory: Path, *, traced: bool = False):
    from privacy_service.crypto import blind_index
    from privacy_service.extensions import db
    from privacy_service.requests.export import build_export
    from privacy_service.subjects import Subject

    destination = directory / f"{secrets.token_hex(8)}.sealed"
    subject = Subject(email, blind_index(email))
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    result = build_export(
        subject,
        destination,
        request_info={"id": 1, "kind": "access"},
        now=datetime.now(UTC),
    )
    seconds = time.perf_counter() - started
    peak = 0
    if traced:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    db.session.rollback()
    return seconds, peak, result, destination


def read_providers(email: str) -> float:
    """Only the providers' part of the export: read, decrypt and shape the records."""
    from privacy_service.crypto import blind_index
    from privacy_service.extensions import db
    from privacy_service.subjects import Subject, providers

    subject = Subject(email, blind_index(email))
    started = time.perf_counter()
    for provider in providers():
        for _ in provider.export(subject):
            pass
    seconds = time.perf_counter() - started
    db.session.rollback()
    return seconds


def unpacked_sizes(path: Path) -> dict[str, int]:
    """Sizes of data.json and report.html in clear (read back through the sealed file)."""
    from privacy_service.requests.export import EXPORT_CONTEXT
    from privacy_service.requests.sealed_files import read_sealed

    with path.open("rb") as handle:
        content = b"".join(read_sealed(handle, EXPORT_CONTEXT))
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {info.filename: info.file_size for info in archive.infolist()}


def mib(size: int) -> str:
    return f"{size / 1024 / 1024:7.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--memory-scale", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of one export"
    )
    options = parser.parse_args()

    from flask_migrate import upgrade

    from privacy_service.crypto import blind_index
    from privacy_service.extensions import db

    recreate_database(options.database_url)
    app = bench_app(options.database_url, "export")
    instance = Path(app.instance_path)
    dsn = options.database_url.replace("postgresql+psycopg://", "postgresql://")
    subject = "subject@example.org"
    large = "large.subject@example.org"
    large_records = options.records * options.memory_scale

    with app.app_context():
        upgrade()
        seeder = Seeder(db, datetime.now(UTC))
        started = time.perf_counter()
        mix = seeder.subject(subject, options.records)
        # Other people's rows, so the look-ups pick the subject out of larger tables.
        stranger_rows = seeder.strangers(STRANGERS)
        if options.memory_scale > 1:
            seeder.subject(large, large_records)
        seed_seconds = time.perf_counter() - started
        db.session.execute(text("ANALYZE"))
        db.session.commit()

        index = blind_index(subject)
        raw_runs, export_runs, provider_runs = [], [], []
        for _ in range(options.repeat):
            raw_seconds, raw_counts = raw_selects(dsn, index)
            raw_runs.append(raw_seconds)
            provider_runs.append(read_providers(subject))
            export_seconds, _, result, path = export(subject, instance)
            export_runs.append(export_seconds)
            path.unlink()
        _, peak, result, path = export(subject, instance, traced=True)
        sizes = unpacked_sizes(path)
        path.unlink()
        rss = rss_growth(lambda: export(subject, instance)[3].unlink())
        if options.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            read_providers(subject)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            profiler = cProfile.Profile()
            profiler.enable()
            _, _, _, path = export(subject, instance)
            profiler.disable()
            path.unlink()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        large_peak = large_sizes = large_rss = None
        if options.memory_scale > 1:
            _, large_peak, _, large_path = export(large, instance, traced=True)
            large_sizes = unpacked_sizes(large_path)
            large_path.unlink()
            large_rss = rss_growth(lambda: export(large, instance)[3].unlink())

    raw_best, export_best = min(raw_runs), min(export_runs)
    ratio = raw_best / export_best
    rows = sum(raw_counts.values())
    print(f"database:                {options.database_url.rsplit('@', 1)[-1]}")
    print(
        f"subject's records:       {options.records:,} ({mix.events:,} events, "
        f"{mix.memberships:,} list memberships, {mix.consent} consent records, "
        f"{ORGANISATIONS} organisations); other people's rows: {stranger_rows:,}; seeded in "
        f"{seed_seconds:.1f} s"
    )
    print(f"rows read by raw SELECTs: {rows:,}  {raw_counts}")
    print(
        f"exported records:        {sum(result.record_counts.values()):,}  {result.record_counts}"
    )
    print(
        "raw SELECTs (psycopg):   "
        + ", ".join(f"{s:.3f}" for s in raw_runs)
        + f" s  best {raw_best:.3f} s  ({rows / raw_best:,.0f} rows/s)"
    )
    print(
        "export (build_export):   "
        + ", ".join(f"{s:.3f}" for s in export_runs)
        + f" s  best {export_best:.3f} s  ({rows / export_best:,.0f} rows/s)"
    )
    providers_best = min(provider_runs)
    print(
        f"  of which the providers: best {providers_best:.3f} s  (read, decrypt and shape the "
        f"records: {raw_best / providers_best:.2f}x of raw speed; the rest encodes data.json, "
        "renders report.html, zips and seals them)"
    )
    print(f"ratio raw / export:      {ratio:.2f}x  (target >= {TARGET_RATIO}x)")
    print(
        f"export size:             ZIP {mib(result.zip_bytes)}; in clear data.json "
        f"{mib(sizes['data.json'])}, report.html {mib(sizes['report.html'])}"
    )
    print(
        f"memory during export:    {options.records:,} records: Python peak {mib(peak)}, "
        f"RSS peak growth {mib(rss)}"
    )
    if large_peak is not None:
        print(
            f"                         {large_records:,} records: Python peak {mib(large_peak)}, "
            f"RSS peak growth {mib(large_rss)} (data.json {mib(large_sizes['data.json'])}, "
            f"report.html {mib(large_sizes['report.html'])})"
        )
        print(
            f"memory growth:           {large_peak / peak:.2f}x (Python peak) for "
            f"{options.memory_scale}x records; what grows is the largest single record, a contact "
            f"with its lists ({Mix.of(options.records).lists_per_organisation} vs "
            f"{Mix.of(large_records).lists_per_organisation})"
        )
    print("result:                  " + ("OK" if ratio >= TARGET_RATIO else "BELOW TARGET"))


if __name__ == "__main__":
    main()
