"""Hot read paths: reads outside a transaction use pooled autocommit connections, survive a
connection the database closed, and still see the caller's own writes inside a transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from privacy_service import clock as app_clock
from privacy_service.consent.service import Evidence, check, record_consent
from privacy_service.crypto import blind_index
from tests.factories import ConsentRecordFactory


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


def _close_every_connection_of_the_app(db) -> int:
    """What a database restart does to the pool: its connections die under it."""
    killer = create_engine(db.engine.url, isolation_level="AUTOCOMMIT")
    with killer.connect() as connection:
        closed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    killer.dispose()
    return closed


def _postgresql_only(migrated_database) -> None:
    if migrated_database.backend != "postgresql":
        pytest.skip("connections closed by the server are a PostgreSQL concern")


@pytest.mark.postgres_only
def test_a_check_survives_connections_the_database_closed(client, db, migrated_database):
    _postgresql_only(migrated_database)
    ConsentRecordFactory(email="lou@example.org")
    url = "/api/v1/consent/check?email=lou@example.org&purpose=marketing_email"
    from tests.support.oauth import bearer, issue_token

    token = issue_token(client, ["consent:read"])
    assert client.get(url, headers=bearer(token)).json["allowed"] is True
    db.session.close()  # the test's own session is not the point here
    assert _close_every_connection_of_the_app(db) >= 1
    # Used a moment ago, so not pinged: the read meets the dead connection and runs again.
    answer = client.get(url, headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json["allowed"] is True
    db.engine.dispose()


@pytest.mark.postgres_only
@pytest.mark.parametrize("app_config", [{"DATABASE_PING_IDLE_SECONDS": 0.001}], indirect=True)
def test_an_idle_pooled_connection_is_pinged_and_replaced(app, db, migrated_database):
    _postgresql_only(migrated_database)
    with db.engine.connect() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert _close_every_connection_of_the_app(db) >= 1
    # Idle for longer than the threshold: the checkout pings, finds it dead and reconnects, so
    # even a statement that is never run twice (a write, in a transaction) sees no error.
    with db.engine.begin() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend


def test_a_read_inside_a_transaction_sees_its_own_writes(app, db):
    record_consent(
        "ines@example.org",
        "marketing_email",
        True,
        Evidence(policy_version="1", source="api", text="Yes please."),
        app_clock.now(),
        "test",
    )  # flushed, not committed
    decision = check(blind_index("ines@example.org"), "marketing_email")
    assert decision is not None and decision.granted is True
    db.session.rollback()
    assert check(blind_index("ines@example.org"), "marketing_email") is None


def test_a_prepared_select_reads_the_same_rows_with_or_without_a_transaction(app, db):
    from sqlalchemy import bindparam, select

    from privacy_service.consent.models import ConsentState
    from privacy_service.reading import PreparedSelect, read_rows

    record = ConsentRecordFactory(email="noa@example.org")
    query = PreparedSelect(
        select(ConsentState.record_id, ConsentState.occurred_at).where(
            ConsentState.purpose_id == record.purpose_id,  # a value of the statement's own
            ConsentState.email_index == bindparam("index"),
        )
    )
    db.session.commit()
    outside = read_rows(query, {"index": blind_index("noa@example.org")})
    db.session.execute(text("SELECT 1"))  # now the session holds a transaction
    inside = read_rows(query, {"index": blind_index("noa@example.org")})
    assert [tuple(row) for row in inside] == [tuple(row) for row in outside]
    assert outside[0][0] == record.id
    assert outside[0][1].utcoffset().total_seconds() == 0
