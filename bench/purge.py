"""Benchmark: the retention purge of 1,000,000 expired event rows on PostgreSQL, against a bare
batched DELETE of the same rows, in the same run.

    .venv/bin/python bench/purge.py [--rows 1000000] [--batch-size 1000]
                                    [--database-url postgresql+psycopg://...]

Runs in its own database (default ``bench_purge`` on 127.0.0.1, created if missing, its
``public`` schema rebuilt by the migrations). The same rows are seeded twice (one ``INSERT ...
SELECT generate_series`` each: events of 100 organisations, 400 days old, plus 10,000 recent ones
that must stay), then:

* bare batched DELETE (the baseline): ``DELETE FROM message_event WHERE id IN (SELECT id ...
  WHERE occurred_at <= cutoff ORDER BY id LIMIT n)`` and a commit, until nothing is left;
* the purge: ``retention.service.run_purge(only="message_events")``, i.e. the same batches with
  ``FOR UPDATE SKIP LOCKED``, the legal-hold filter, the category's advisory lock, the run's
  progress row updated and committed after every batch, and the audit event at the end.

Target (issue 9): purge rows/s >= 0.5 x the bare DELETE's rows/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bench.support import bench_app, recreate_database

TARGET = 0.5
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_purge"
KEEP = 10_000


def seed(db, rows: int, now: datetime) -> None:  # type: ignore[no-untyped-def]
    db.session.execute(text("TRUNCATE message_event RESTART IDENTITY"))
    db.session.execute(
        text(
            "INSERT INTO message_event (organisation_id, email_index, kind, campaign_ref, "
            "occurred_at) SELECT 1 + i % 100, md5(i::text) || md5((i + 1)::text), 'sent', "
            "'c' || (i % 50), :old - (i || ' seconds')::interval "
            "FROM generate_series(1, :rows) AS i"
        ),
        {"rows": rows, "old": now - timedelta(days=400)},
    )
    db.session.execute(
        text(
            "INSERT INTO message_event (organisation_id, email_index, kind, occurred_at) "
            "SELECT 1 + i % 100, md5(i::text) || md5(i::text), 'sent', :recent "
            "FROM generate_series(1, :keep) AS i"
        ),
        {"keep": KEEP, "recent": now - timedelta(days=3)},
    )
    db.session.commit()
    db.session.execute(text("ANALYZE message_event"))
    db.session.commit()


def remaining(db) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(text("SELECT count(*) FROM message_event"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    recreate_database(args.database_url)
    app = bench_app(args.database_url, "purge")
    from flask_migrate import upgrade

    from privacy_service.extensions import db
    from privacy_service.retention import service

    now = datetime.now(UTC)
    with app.app_context():
        upgrade()
        db.session.execute(
            text(
                "INSERT INTO organisation (id, name, is_operator, created_at, timezone) "
                "SELECT i, 'Org ' || i, false, now(), 'Europe/Paris' "
                "FROM generate_series(1, 100) AS i"
            )
        )
        db.session.commit()

        seed(db, args.rows, now)
        cutoff = now - timedelta(days=365)
        started = time.perf_counter()
        deleted = 0
        while True:
            count = db.session.execute(
                text(
                    "DELETE FROM message_event WHERE id IN (SELECT id FROM message_event "
                    "WHERE occurred_at <= :cutoff ORDER BY id LIMIT :n)"
                ),
                {"cutoff": cutoff, "n": args.batch_size},
            ).rowcount
            db.session.commit()
            if not count:
                break
            deleted += count
        bare_seconds = time.perf_counter() - started
        assert deleted == args.rows and remaining(db) == KEEP, (deleted, remaining(db))

        seed(db, args.rows, now)
        started = time.perf_counter()
        report = service.run_purge(
            lambda: now,
            trigger="cli",
            actor="bench",
            only="message_events",
            batch_size=args.batch_size,
        )
        purge_seconds = time.perf_counter() - started
        removed = report.categories["message_events"]["removed"]
        assert removed == args.rows and remaining(db) == KEEP, (removed, remaining(db))

    bare_rate = args.rows / bare_seconds
    purge_rate = args.rows / purge_seconds
    ratio = purge_rate / bare_rate
    print(f"{args.rows:,} expired event rows, batches of {args.batch_size}, PostgreSQL")
    print(f"  bare batched DELETE  {bare_seconds:8.1f} s  {bare_rate:>10,.0f} rows/s")
    print(f"  retention purge      {purge_seconds:8.1f} s  {purge_rate:>10,.0f} rows/s")
    print(f"  ratio {ratio:.2f}x (target {TARGET}x) {'ok' if ratio >= TARGET else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
