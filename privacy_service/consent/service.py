"""Consent rules: purposes, recording evidence, checking (single and bulk), history, the subject's
preferences page reached from a signed link, and erasure.

The current state of a subject for a purpose is the newest record for that subject, purpose and
organisation; no record means "not consented" [GDPR art. 7]. It is kept in ``consent_state``,
updated in the same transaction as each append, so checks read one indexed row and a withdrawal
counts from the very next check [spec, "Consent": takes effect immediately for every sender].
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, any_, bindparam, cast, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import NullType, String

from privacy_service import audit, evidence
from privacy_service.accounts.models import Organisation
from privacy_service.consent.models import (
    ConsentErasureTally,
    ConsentRecord,
    ConsentState,
    ConsentText,
    Purpose,
)
from privacy_service.crypto import blind_index
from privacy_service.errors import DomainError, InvalidInput
from privacy_service.extensions import db
from privacy_service.mail.bulk import matches_any
from privacy_service.reading import PreparedSelect, gc_paused, read_rows
from privacy_service.signing import sign, unsign
from privacy_service.urls import external_url
from privacy_service.webhooks.events import emit
from privacy_service.webhooks.models import EventType

MAX_BULK_ADDRESSES = 100_000
# The purpose a customer's list subscription is a consent to [spec, "Consent": one truth].
MARKETING_PURPOSE = "marketing_email"
# Withdrawals the person made themselves (not the customer on their behalf).
SUBJECT_SOURCES = frozenset({"web_form", "unsubscribe_link", "one_click"})
PREFERENCES_LINK = "consent.preferences"
_PURPOSE_CACHE = "privacy_service.consent.purposes"
# Blind indexes per statement where they are bound one by one (SQLite: 32,766 variables at most).
_CHUNK = 5_000
_HEX_ARRAY = re.compile(r"\{[0-9a-f,]*\}")


class Decision(NamedTuple):
    """The record that decides a consent check (a tuple: bulk checks build 100,000 of them)."""

    record_id: int
    granted: bool
    at: datetime
    policy_version: str
    source: str

    def as_json(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "granted": self.granted,
            "at": self.at.isoformat(),
            "policy_version": self.policy_version,
            "source": self.source,
        }


@dataclass(frozen=True)
class Evidence:
    """How a grant or withdrawal was obtained; ``text`` is the exact wording the person saw."""

    policy_version: str
    source: str
    occurred_at: datetime | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    text: str | None = None
    text_sha256: str | None = None
    # A list subscription added by the customer (import, API, by hand): the customer's statement
    # of where the consent came from, its evidence with ``occurred_at`` [privacy policy §2].
    attested_source: str | None = None


@dataclass(frozen=True)
class PurposeRef:
    id: int
    code: str
    customer_use: bool


# --- purposes -----------------------------------------------------------------------------------


def purposes() -> list[Purpose]:
    return list(db.session.scalars(select(Purpose).order_by(Purpose.id)))


def purposes_for_scope(organisation_id: int | None) -> list[Purpose]:
    """Purposes a controller may ask for: all for the operator, shared ones for a customer."""
    query = select(Purpose).order_by(Purpose.id)
    if organisation_id is not None:
        query = query.where(Purpose.customer_use.is_(True))
    return list(db.session.scalars(query))


def purpose_ref(code: str) -> PurposeRef:
    """The purpose with this code, from a per-process cache (codes never change once created)."""
    cache: dict[str, PurposeRef] = current_app.extensions.setdefault(_PURPOSE_CACHE, {})
    ref = cache.get(code)
    if ref is None:
        # A purpose added by the DPO (maybe through another process) is found on the first miss.
        rows = db.session.execute(select(Purpose.id, Purpose.code, Purpose.customer_use))
        cache.clear()
        cache.update({row.code: PurposeRef(row.id, row.code, row.customer_use) for row in rows})
        ref = cache.get(code)
    if ref is None:
        raise InvalidInput(fields={"purpose": [_l("Unknown purpose.")]})
    return ref


def create_purpose(fields: dict[str, Any], now: datetime, actor: str) -> Purpose:
    """Add a purpose (DPO); its code is permanent because callers and records refer to it."""
    if db.session.scalar(select(Purpose.id).where(Purpose.code == fields["code"])) is not None:
        raise InvalidInput(fields={"code": [_l("A purpose with this code already exists.")]})
    purpose = Purpose(created_at=now, **fields)
    db.session.add(purpose)
    db.session.flush()
    audit.record(
        actor,
        "consent.purpose_created",
        f"consent_purpose:{purpose.id}",
        {"code": purpose.code, "legal_basis": purpose.legal_basis},
        now=now,
    )
    return purpose


def scoped_purpose(purpose_code: str, organisation_id: int | None) -> PurposeRef:
    """The purpose, if it may be asked about in this scope (else InvalidInput, 422)."""
    purpose = purpose_ref(purpose_code)
    _check_scope(purpose, organisation_id)
    return purpose


def _check_scope(purpose: PurposeRef, organisation_id: int | None) -> None:
    if organisation_id is None:
        return
    if not purpose.customer_use:
        raise InvalidInput(
            fields={"organisation": [_l("This purpose belongs to the operator only.")]}
        )
    _require_organisation(organisation_id)


def _require_organisation(organisation_id: int) -> None:
    if db.session.get(Organisation, organisation_id) is None:
        raise InvalidInput(fields={"organisation": [_l("Unknown organisation.")]})


# --- recording ----------------------------------------------------------------------------------


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _insert(table: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def remember_text(text: str, now: datetime) -> str:
    """Keep the wording once per distinct text, so a proof look-up can show what was seen."""
    digest = text_digest(text)
    statement = _insert(ConsentText.__table__).values(sha256=digest, body=text, created_at=now)
    db.session.execute(statement.on_conflict_do_nothing(index_elements=["sha256"]))
    return digest


def record_consent(
    email: str,
    purpose_code: str,
    granted: bool,
    evidence: Evidence,
    now: datetime,
    actor: str,
    organisation_id: int | None = None,
    *,
    list_id: int | None = None,
    import_job_id: int | None = None,
) -> ConsentRecord:
    """Append a grant or withdrawal with its evidence and make it the current state if newest.

    A withdrawal that becomes the current state is passed to every ``on_withdrawal`` listener in
    the same transaction (the lists unsubscribe the address), so every view agrees at once.
    """
    purpose = purpose_ref(purpose_code)
    _check_scope(purpose, organisation_id)
    occurred_at = evidence.occurred_at or now
    if occurred_at > now + timedelta(minutes=5):
        raise InvalidInput(fields={"occurred_at": [_l("This date is in the future.")]})
    digest = evidence.text_sha256
    if evidence.text is not None:
        stored = remember_text(evidence.text, now)
        if digest is not None and digest != stored:
            raise InvalidInput(
                fields={"text_sha256": [_l("This is not the SHA-256 of the text given.")]}
            )
        digest = stored
    if granted and digest is None and not evidence.attested_source:
        # GDPR art. 7(1): proving consent means proving what the person agreed to.
        raise InvalidInput(
            fields={"text": [_l("A grant needs the text shown to the person (or its SHA-256).")]}
        )
    record = ConsentRecord(
        email=email,
        email_index=blind_index(email),
        organisation_id=organisation_id,
        purpose_id=purpose.id,
        granted=granted,
        policy_version=evidence.policy_version,
        source=evidence.source,
        occurred_at=occurred_at,
        recorded_at=now,
        ip_address=evidence.ip_address,
        user_agent=evidence.user_agent,
        text_sha256=digest,
        recorded_by=actor,
        attested_source=evidence.attested_source,
        list_id=list_id,
        import_job_id=import_job_id,
    )
    db.session.add(record)
    db.session.flush()
    _advance_state(record)
    audit.record(
        actor,
        "consent.granted" if granted else "consent.withdrawn",
        f"consent_record:{record.id}",
        {
            "purpose": purpose.code,
            "organisation_id": organisation_id,
            "source": evidence.source,
            "policy_version": evidence.policy_version,
        },
        now=now,
    )
    emit(
        EventType.CONSENT_GRANTED if granted else EventType.CONSENT_WITHDRAWN,
        {
            "subject": record.email_index,
            "record_id": record.id,
            "purpose": purpose.code,
            "organisation_id": organisation_id,
            "occurred_at": occurred_at.isoformat(),
            "source": evidence.source,
            "policy_version": evidence.policy_version,
        },
        now,
        subject_index=record.email_index,
        email=email,
    )
    if not granted and _decides(record):
        for listener in _withdrawal_listeners:
            listener(record, now)
    return record


# Called with each withdrawal that became the current state (registered by the mail feature).
_withdrawal_listeners: list[Callable[[ConsentRecord, datetime], None]] = []
# Asked before the preference page records a grant: a message refuses it (mail: an address
# that unsubscribed from a customer comes back only through a new double opt-in).
_grant_guards: list[Callable[[str, str, int | None], str | None]] = []


def on_withdrawal(listener: Callable[[ConsentRecord, datetime], None]) -> None:
    _withdrawal_listeners.append(listener)


def guard_grants(guard: Callable[[str, str, int | None], str | None]) -> None:
    _grant_guards.append(guard)


def grant_refusal(email_index: str, purpose_code: str, organisation_id: int | None) -> str | None:
    """Why the subject may not grant this purpose on the preference page, or None."""
    for guard in _grant_guards:
        message = guard(email_index, purpose_code, organisation_id)
        if message:
            return message
    return None


def _decides(record: ConsentRecord) -> bool:
    return (
        db.session.scalar(
            select(ConsentState.record_id).where(
                ConsentState.email_index == record.email_index,
                ConsentState.purpose_id == record.purpose_id,
                _scope_filter(record.organisation_id),
            )
        )
        == record.id
    )


def _advance_state(record: ConsentRecord) -> None:
    """Upsert the subject's state, unless a newer record already decides it (older evidence)."""
    table = ConsentState.__table__
    statement = _insert(table).values(
        email_index=record.email_index,
        purpose_id=record.purpose_id,
        organisation_id=record.organisation_id,
        record_id=record.id,
        granted=record.granted,
        occurred_at=record.occurred_at,
        policy_version=record.policy_version,
        source=record.source,
    )
    excluded = statement.excluded
    if record.organisation_id is None:
        key, key_where = ["email_index", "purpose_id"], table.c.organisation_id.is_(None)
    else:
        key = ["email_index", "purpose_id", "organisation_id"]
        key_where = table.c.organisation_id.is_not(None)
    newer = or_(
        excluded.occurred_at > table.c.occurred_at,
        and_(excluded.occurred_at == table.c.occurred_at, excluded.record_id > table.c.record_id),
    )
    changed = ("record_id", "granted", "occurred_at", "policy_version", "source")
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=key,
            index_where=key_where,
            set_={name: excluded[name] for name in changed},
            where=newer,
        )
    )


def advance_states(record_ids: Sequence[int], organisation_scoped: bool) -> None:
    """``_advance_state`` for many records at once, as one statement per part (list imports).

    The records must all be in one kind of scope (customers' or the operator's) and name each
    (subject, purpose, organisation) at most once.
    """
    table, records = ConsentState.__table__, ConsentRecord.__table__
    names = ("email_index", "purpose_id", "organisation_id", "granted", "occurred_at")
    changed = ("record_id", "granted", "occurred_at", "policy_version", "source")
    if organisation_scoped:
        key = ["email_index", "purpose_id", "organisation_id"]
        key_where = table.c.organisation_id.is_not(None)
    else:
        key, key_where = ["email_index", "purpose_id"], table.c.organisation_id.is_(None)
    for start in range(0, len(record_ids), _CHUNK):
        chunk = record_ids[start : start + _CHUNK]
        statement = _insert(table).from_select(
            [*names, "record_id", "policy_version", "source"],
            select(
                *(records.c[name] for name in names),
                records.c.id,
                records.c.policy_version,
                records.c.source,
            ).where(matches_any(records.c.id, chunk)),
        )
        excluded = statement.excluded
        newer = or_(
            excluded.occurred_at > table.c.occurred_at,
            and_(
                excluded.occurred_at == table.c.occurred_at,
                excluded.record_id > table.c.record_id,
            ),
        )
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=key,
                index_where=key_where,
                set_={name: excluded[name] for name in changed},
                where=newer,
            )
        )


# --- checking -----------------------------------------------------------------------------------

_STATE_COLUMNS = (
    ConsentState.email_index,
    ConsentState.record_id,
    ConsentState.granted,
    ConsentState.occurred_at,
    ConsentState.policy_version,
    ConsentState.source,
)


def _scope_filter(organisation_id: int | None) -> Any:
    if organisation_id is None:
        return ConsentState.organisation_id.is_(None)
    return ConsentState.organisation_id == organisation_id


def _decision(row: Any) -> Decision:
    return Decision(row.record_id, row.granted, row.occurred_at, row.policy_version, row.source)


# Built once: a check is the hot path of every sender (see reading.PreparedSelect).
_CHECK_QUERIES = {
    scoped: PreparedSelect(
        select(*_STATE_COLUMNS[1:]).where(
            ConsentState.email_index == bindparam("email_index"),
            ConsentState.purpose_id == bindparam("purpose_id"),
            ConsentState.organisation_id == bindparam("organisation_id")
            if scoped
            else ConsentState.organisation_id.is_(None),
        )
    )
    for scoped in (False, True)
}


def check(
    email_index: str, purpose_code: str, organisation_id: int | None = None
) -> Decision | None:
    """The record deciding whether this subject consented; None means no consent."""
    purpose = purpose_ref(purpose_code)
    parameters = {"email_index": email_index, "purpose_id": purpose.id}
    if organisation_id is not None:
        parameters["organisation_id"] = organisation_id
    rows = read_rows(_CHECK_QUERIES[organisation_id is not None], parameters)
    if not rows:
        # Only on a miss: an unknown organisation must be an error, not a silent "no".
        _check_scope(purpose, organisation_id)
        return None
    return Decision(*rows[0])


def check_many(
    email_indexes: Sequence[str], purpose_code: str, organisation_id: int | None = None
) -> list[Decision | None]:
    """One decision per blind index, in the order given, by set look-ups (never one per index)."""
    purpose = scoped_purpose(purpose_code, organisation_id)
    if db.engine.dialect.name == "postgresql":
        return _decisions_in_order(email_indexes, purpose.id, organisation_id)
    found = decisions_by_index(set(email_indexes), purpose.id, organisation_id)
    return [found.get(index) for index in email_indexes]


def _bulk_query(scoped: bool) -> PreparedSelect:
    """PostgreSQL: every index at once, as one array parameter.

    One statement for up to MAX_BULK_ADDRESSES: the planner hashes the array and reads the
    table once, where chunks would read it once each (measured: 100,000 indexes in one
    statement take about 60 % of the time of five chunks of 20,000).
    """
    # The parameter is left untyped and cast to varchar[]: PostgreSQL then reads it as a constant
    # array, which it hashes. Typed as text first (CAST($1::VARCHAR AS VARCHAR[])), it stays an
    # expression, and 100,000 indexes are compared one by one with every row: minutes, not ms.
    indexes = cast(bindparam("indexes", type_=NullType()), postgresql.ARRAY(String))
    return PreparedSelect(
        select(*_STATE_COLUMNS).where(
            ConsentState.email_index == any_(indexes),
            ConsentState.purpose_id == bindparam("purpose_id"),
            ConsentState.organisation_id == bindparam("organisation_id")
            if scoped
            else ConsentState.organisation_id.is_(None),
        ),
        # Each array is different: a plan kept for one array would be wrong for the next.
        server_prepared=False,
    )


_BULK_QUERIES = {scoped: _bulk_query(scoped) for scoped in (False, True)}


def _decisions_in_order(
    email_indexes: Sequence[str], purpose_id: int, organisation_id: int | None
) -> list[Decision | None]:
    # Blind indexes are hex, so the array's text form needs no quoting.
    array = "{" + ",".join(email_indexes) + "}"
    if _HEX_ARRAY.fullmatch(array) is None:
        raise ValueError("blind indexes are hexadecimal strings")
    parameters: dict[str, Any] = {"indexes": array, "purpose_id": purpose_id}
    if organisation_id is not None:
        parameters["organisation_id"] = organisation_id
    with gc_paused():
        found = {
            index: Decision(record_id, granted, at, policy_version, source)
            for index, record_id, granted, at, policy_version, source in read_rows(
                _BULK_QUERIES[organisation_id is not None], parameters
            )
        }
        return [found.get(index) for index in email_indexes]


def decisions_by_index(
    email_indexes: Iterable[str], purpose_id: int, organisation_id: int | None
) -> dict[str, Decision]:
    """Blind index -> deciding record, for those that have one, in chunks of bound variables
    (SQLite allows 32,766 per statement; PostgreSQL takes ``_decisions_in_order``)."""
    wanted = list(email_indexes)
    connection = db.session.connection()
    conditions = (ConsentState.purpose_id == purpose_id, _scope_filter(organisation_id))
    found: dict[str, Decision] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = connection.execute(
            select(*_STATE_COLUMNS).where(ConsentState.email_index.in_(chunk), *conditions)
        ).all()
        for index, record_id, granted, at, policy_version, source in rows:
            found[index] = Decision(record_id, granted, at, policy_version, source)
    return found


def history(
    email_index: str, purpose_code: str | None = None, organisation_id: int | None = None
) -> list[ConsentRecord]:
    """Every record of the subject (optionally one purpose / one organisation), newest first."""
    query = select(ConsentRecord).where(ConsentRecord.email_index == email_index)
    if purpose_code is not None:
        query = query.where(ConsentRecord.purpose_id == purpose_ref(purpose_code).id)
    if organisation_id is not None:
        query = query.where(ConsentRecord.organisation_id == organisation_id)
    query = query.order_by(ConsentRecord.occurred_at.desc(), ConsentRecord.id.desc())
    return list(db.session.scalars(query))


def consent_text(digest: str | None) -> str | None:
    if digest is None:
        return None
    return db.session.scalar(select(ConsentText.body).where(ConsentText.sha256 == digest))


def record_by_id(record_id: int) -> ConsentRecord | None:
    return db.session.get(ConsentRecord, record_id)


def current_counts() -> dict[int, dict[str, int]]:
    """Per purpose, how many subjects currently grant and refuse (DPO overview)."""
    rows = db.session.execute(
        select(ConsentState.purpose_id, ConsentState.granted, func.count()).group_by(
            ConsentState.purpose_id, ConsentState.granted
        )
    )
    counts: dict[int, dict[str, int]] = {}
    for purpose_id, granted, count in rows:
        counts.setdefault(purpose_id, {"granted": 0, "withdrawn": 0})[
            "granted" if granted else "withdrawn"
        ] = count
    return counts


# --- the subject's preferences page (signed link in every email) --------------------------------


def preferences_token(email_index: str, organisation_id: int | None = None) -> str:
    # The blind index, never the address: links end up in logs and browser histories.
    return sign(PREFERENCES_LINK, {"s": email_index, "o": organisation_id})


def preferences_url(
    email: str | None = None,
    *,
    email_index: str | None = None,
    organisation_id: int | None = None,
) -> str:
    """The absolute link to the subject's consent page, for any email this service sends.

    Give the address or its blind index, and the organisation whose consents the page shows
    (None: the operator's own). Works inside or outside a request (``BASE_URL`` prefixes it).
    """
    if email_index is None:
        if email is None:
            raise ValueError("preferences_url needs an email or an email_index")
        email_index = blind_index(email)
    token = preferences_token(email_index, organisation_id)
    return external_url("consent.preferences", token=token)


def subject_of_token(token: str) -> tuple[str, int | None]:
    max_age = timedelta(days=current_app.config["CONSENT_LINK_MAX_AGE_DAYS"])
    payload = unsign(PREFERENCES_LINK, token, max_age=max_age)
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        raise DomainError(_l("This link is not valid."), code="invalid_token")
    organisation_id = payload.get("o")
    return payload["s"], organisation_id if isinstance(organisation_id, int) else None


@dataclass(frozen=True)
class PreferenceLine:
    purpose: Purpose
    decision: Decision | None

    @property
    def granted(self) -> bool:
        return bool(self.decision and self.decision.granted)


def preference_lines(email_index: str, organisation_id: int | None) -> list[PreferenceLine]:
    lines = []
    scoped = purposes_for_scope(organisation_id)
    states = {
        row.purpose_id: row
        for row in db.session.execute(
            select(ConsentState.purpose_id, *_STATE_COLUMNS).where(
                ConsentState.email_index == email_index, _scope_filter(organisation_id)
            )
        )
    }
    for purpose in scoped:
        row = states.get(purpose.id)
        lines.append(PreferenceLine(purpose, _decision(row) if row is not None else None))
    return lines


def known_address(email_index: str) -> str | None:
    """The subject's address, from its newest record in any scope (decrypted, never searched)."""
    return db.session.scalar(
        select(ConsentRecord.email)
        .where(ConsentRecord.email_index == email_index)
        .order_by(ConsentRecord.id.desc())
        .limit(1)
    )


def update_preferences(
    email_index: str,
    organisation_id: int | None,
    wanted: dict[str, bool],
    texts: dict[str, str],
    evidence: Evidence,
    now: datetime,
) -> list[ConsentRecord]:
    """Record a grant or withdrawal for each purpose whose toggle changed; nothing else."""
    changes = [
        line
        for line in preference_lines(email_index, organisation_id)
        if wanted.get(line.purpose.code, False) != line.granted
    ]
    if not changes:
        return []
    email = known_address(email_index)
    if email is None:
        # Nothing to withdraw, and a grant needs the address, which the link does not carry.
        raise DomainError(
            _l("We hold no consent for this address, so there is nothing to change here."),
            code="no_consent_on_record",
            status=409,
        )
    for line in changes:
        if wanted.get(line.purpose.code, False):
            refusal = grant_refusal(email_index, line.purpose.code, organisation_id)
            if refusal:
                raise DomainError(refusal, code="new_opt_in_needed", status=409)
    records = []
    for line in changes:
        code = line.purpose.code
        records.append(
            record_consent(
                email,
                code,
                wanted.get(code, False),
                Evidence(
                    policy_version=evidence.policy_version,
                    source="web_form",
                    ip_address=evidence.ip_address,
                    user_agent=evidence.user_agent,
                    text=texts[code],
                ),
                now,
                "anonymous",
                organisation_id,
            )
        )
    return records


# --- purging evidence (retention, undone imports) ------------------------------------------------


def purge_records(record_ids: Sequence[int], now: datetime, actor: str, reason: str) -> int:
    """Delete these consent records: the one audited path besides erasure (evidence.py).

    The retention purge calls it for records past their retention period; a rolled-back import
    for the records it created. The current state of every subject touched is rebuilt from the
    records that remain, so a check answers as if the purged records had never existed. The
    audit event carries the count and the reason, never who the records were about.
    """
    ids = sorted(set(record_ids))
    if not ids:
        return 0
    keys: set[tuple[str, int, int | None]] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        keys.update(
            db.session.execute(
                select(
                    ConsentRecord.email_index,
                    ConsentRecord.purpose_id,
                    ConsentRecord.organisation_id,
                ).where(ConsentRecord.id.in_(chunk))
            ).all()
        )
    removed = 0
    with evidence.permit("purge"):
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            db.session.execute(delete(ConsentState).where(ConsentState.record_id.in_(chunk)))
            removed += db.session.execute(
                delete(ConsentRecord).where(ConsentRecord.id.in_(chunk))
            ).rowcount
    _rebuild_states(keys)
    audit.record(
        actor, "consent.records_purged", None, {"records": removed, "reason": reason}, now=now
    )
    db.session.flush()
    return removed


def _rebuild_states(keys: Iterable[tuple[str, int, int | None]]) -> None:
    """Make the newest remaining record of each (subject, purpose, organisation) its state."""
    keys = set(keys)
    indexes = sorted({key[0] for key in keys})
    remaining: set[tuple[str, int, int | None]] = set()
    for start in range(0, len(indexes), _CHUNK):
        remaining.update(
            db.session.execute(
                select(
                    ConsentRecord.email_index,
                    ConsentRecord.purpose_id,
                    ConsentRecord.organisation_id,
                )
                .where(ConsentRecord.email_index.in_(indexes[start : start + _CHUNK]))
                .distinct()
            ).all()
        )
    # Most purged subjects have no other record (an undone import): only the others are read.
    for email_index, purpose_id, organisation_id in keys & remaining:
        same_scope = (
            ConsentRecord.organisation_id.is_(None)
            if organisation_id is None
            else ConsentRecord.organisation_id == organisation_id
        )
        newest = db.session.scalar(
            select(ConsentRecord)
            .where(
                ConsentRecord.email_index == email_index,
                ConsentRecord.purpose_id == purpose_id,
                same_scope,
            )
            .order_by(ConsentRecord.occurred_at.desc(), ConsentRecord.id.desc())
            .limit(1)
        )
        if newest is not None:
            _advance_state(newest)


# --- erasure ------------------------------------------------------------------------------------


def erase_subject(email_index: str) -> dict[tuple[int, int | None, bool], int]:
    """Delete the subject's records and states; return the counts erasure keeps as proof."""
    counts = {
        (purpose_id, organisation_id, granted): count
        for purpose_id, organisation_id, granted, count in db.session.execute(
            select(
                ConsentRecord.purpose_id,
                ConsentRecord.organisation_id,
                ConsentRecord.granted,
                func.count(),
            )
            .where(ConsentRecord.email_index == email_index)
            .group_by(
                ConsentRecord.purpose_id, ConsentRecord.organisation_id, ConsentRecord.granted
            )
        )
    }
    if not counts:
        return {}
    db.session.execute(delete(ConsentState).where(ConsentState.email_index == email_index))
    # GDPR art. 17: erasure is one of the two paths allowed to remove evidence (evidence.py).
    with evidence.permit("purge"):
        db.session.execute(delete(ConsentRecord).where(ConsentRecord.email_index == email_index))
    for (purpose_id, organisation_id, granted), count in counts.items():
        scope = (
            ConsentErasureTally.organisation_id.is_(None)
            if organisation_id is None
            else ConsentErasureTally.organisation_id == organisation_id
        )
        tally = db.session.scalar(
            select(ConsentErasureTally)
            .where(
                ConsentErasureTally.purpose_id == purpose_id,
                ConsentErasureTally.granted.is_(granted),
                scope,
            )
            .with_for_update()
        )
        if tally is None:
            tally = ConsentErasureTally(
                purpose_id=purpose_id, organisation_id=organisation_id, granted=granted, records=0
            )
            db.session.add(tally)
        tally.records += count
    db.session.flush()
    return counts


def erasure_tallies() -> list[tuple[str, int | None, bool, int]]:
    """(purpose code, organisation, granted, erased records) for the DPO's proof of erasure."""
    rows = db.session.execute(
        select(
            Purpose.code,
            ConsentErasureTally.organisation_id,
            ConsentErasureTally.granted,
            func.sum(ConsentErasureTally.records),
        )
        .join(Purpose, Purpose.id == ConsentErasureTally.purpose_id)
        .group_by(Purpose.code, ConsentErasureTally.organisation_id, ConsentErasureTally.granted)
        .order_by(Purpose.code)
    )
    return [(code, org, granted, int(total)) for code, org, granted, total in rows]
