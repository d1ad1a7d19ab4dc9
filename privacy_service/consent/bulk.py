"""The bulk consent check's answer: one JSON answer per address, in the order sent.

The rule is ``service.check_many``'s (the newest record decides, none means no consent). What
this module adds is speed for up to ``MAX_BULK_ADDRESSES`` addresses. On PostgreSQL each part
of the addresses is one statement over all its blind indexes, and the database writes each
found answer's JSON as it reads the row, so Python keeps one string per address instead of
building a record, converting its date and formatting it (for 100,000 addresses that took
longer than the look-up itself; README, "Benchmark"). Each answer has the single check's
fields; only the whitespace differs. Elsewhere (SQLite) Python writes the same answers from
``check_many``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from flask import current_app
from sqlalchemy import String, column, text

from privacy_service.consent import service
from privacy_service.crypto import blind_indexes
from privacy_service.extensions import db
from privacy_service.reading import PreparedSelect, gc_paused, read_rows

REFUSED = '{"allowed":false,"decided_by":null}'
_HEX_ARRAY = re.compile(r"\{[0-9a-f,]*\}")
# A bulk check on PostgreSQL is looked up in up to _PARTS parts of at least _PART_MIN addresses,
# on at most _LOOKUP_THREADS threads per process (each holds a pooled connection meanwhile).
_PARTS = 3
_PART_MIN = 20_000
_LOOKUP_THREADS = 4
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()

# An answer in JSON, written by PostgreSQL for each found row. "at" is Python's isoformat() of
# the UTC time (microseconds only when there are some), as in the single check's answer;
# to_json() escapes the texts as JSON strings.
_ANSWER_SQL = """
SELECT email_index,
       '{"allowed":' || CASE WHEN granted THEN 'true' ELSE 'false' END
       || ',"decided_by":{"record_id":' || record_id
       || ',"granted":' || CASE WHEN granted THEN 'true' ELSE 'false' END
       || ',"at":"' || to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
       || CASE WHEN to_char(occurred_at AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
               ELSE to_char(occurred_at AT TIME ZONE 'UTC', '.US') END
       || '+00:00","policy_version":' || to_json(policy_version)::text
       || ',"source":' || to_json(source)::text || '}}' AS answer
FROM consent_state
WHERE email_index = ANY (CAST(:indexes AS VARCHAR[]))
  AND purpose_id = :purpose_id
  AND {scope}
"""
# The parameter is cast from no type at all: PostgreSQL then reads the array as a constant and
# hashes it. Typed first (CAST($1::VARCHAR AS VARCHAR[])), it would stay an expression, and each
# row would be compared with 100,000 indexes one by one: minutes instead of milliseconds.
_ANSWER_QUERIES = {
    scoped: PreparedSelect(
        text(
            _ANSWER_SQL.replace(
                "{scope}",
                "organisation_id = :organisation_id" if scoped else "organisation_id IS NULL",
            )
        ).columns(column("email_index", String), column("answer", String)),
        # Each array differs: a plan kept for one array would be wrong for the next.
        server_prepared=False,
    )
    for scoped in (False, True)
}


def document(emails: Sequence[str], purpose_code: str, organisation_id: int | None = None) -> str:
    """The whole bulk answer, as JSON text, for validated addresses."""
    purpose = service.scoped_purpose(purpose_code, organisation_id)
    if db.engine.dialect.name == "postgresql":
        answers = _answers_in_parts(emails, purpose.id, organisation_id)
    else:
        decisions = service.check_many(blind_indexes(emails), purpose_code, organisation_id)
        answers = [answer_json(decision) for decision in decisions]
    head = json.dumps({"purpose": purpose_code, "organisation": organisation_id})
    return head[:-1] + ', "answers": [' + ",".join(answers) + "]}"


def answer_json(decision: service.Decision | None) -> str:
    """One address's answer as JSON text (what PostgreSQL writes in _ANSWER_SQL)."""
    if decision is None:
        return REFUSED
    flag = "true" if decision.granted else "false"
    return f'{{"allowed":{flag},"decided_by":{decision_json(decision)}}}'


def decision_json(decision: service.Decision) -> str:
    """``Decision.as_json()`` as JSON text."""
    return (
        f'{{"record_id":{int(decision.record_id)},'
        f'"granted":{"true" if decision.granted else "false"},'
        f'"at":"{decision.at.isoformat()}",'
        f'"policy_version":{json.dumps(decision.policy_version)},'
        f'"source":{json.dumps(decision.source)}}}'
    )


def _answers_in_parts(
    emails: Sequence[str], purpose_id: int, organisation_id: int | None
) -> list[str]:
    """Look-ups of successive parts run on other threads (other connections) while this one
    computes the next part's blind indexes, and PostgreSQL answers parts side by side: with 3
    parts, 100,000 addresses take about two thirds of the time of one statement after all
    the indexes (README, "Benchmark"). Each part is still one set look-up."""
    size = max(_PART_MIN, -(-len(emails) // _PARTS))
    if len(emails) <= size:
        return _answers_from_postgresql(blind_indexes(emails), purpose_id, organisation_id)
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def look_up(indexes: list[str]) -> list[str]:
        with app.app_context():
            return _answers_from_postgresql(indexes, purpose_id, organisation_id)

    parts = [
        _lookups().submit(look_up, blind_indexes(emails[start : start + size]))
        for start in range(0, len(emails), size)
    ]
    return [answer for part in parts for answer in part.result()]


def _lookups() -> ThreadPoolExecutor:
    """This process's look-up threads, started on first use (after gunicorn forked)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_LOOKUP_THREADS, thread_name_prefix="consent-bulk")
        return _executor


def _answers_from_postgresql(
    email_indexes: Sequence[str], purpose_id: int, organisation_id: int | None
) -> list[str]:
    # Blind indexes are hex, so the array's text form needs no quoting.
    array = "{" + ",".join(email_indexes) + "}"
    if _HEX_ARRAY.fullmatch(array) is None:
        raise ValueError("blind indexes are hexadecimal strings")
    parameters: dict[str, object] = {"indexes": array, "purpose_id": purpose_id}
    if organisation_id is not None:
        parameters["organisation_id"] = organisation_id
    with gc_paused():
        found = dict(read_rows(_ANSWER_QUERIES[organisation_id is not None], parameters))
    return [found.get(index, REFUSED) for index in email_indexes]
