"""The bulk consent check's answer: one JSON answer per address, in the order sent.

The rule is ``service.check_many``'s (the newest record decides, none means no consent). What
this module adds is speed for up to ``MAX_BULK_ADDRESSES`` addresses: on PostgreSQL the
look-up is one statement over all the blind indexes, and the database writes each found
answer's JSON as it reads the row, so Python handles one string per address instead of a
record, a timezone conversion and a formatting step (about 4 µs an address, more than the
look-up itself; see README, "Benchmark"). Each answer has the single check's shape; only the
whitespace differs. Elsewhere (SQLite) Python writes the same answers from ``check_many``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from sqlalchemy import String, column, text

from privacy_service.consent import service
from privacy_service.extensions import db
from privacy_service.reading import PreparedSelect, gc_paused, read_rows

REFUSED = '{"allowed":false,"decided_by":null}'
_HEX_ARRAY = re.compile(r"\{[0-9a-f,]*\}")

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


def document(
    email_indexes: Sequence[str], purpose_code: str, organisation_id: int | None = None
) -> str:
    """The whole bulk answer as JSON text."""
    purpose = service.scoped_purpose(purpose_code, organisation_id)
    if db.engine.dialect.name == "postgresql":
        answers = _answers_from_postgresql(email_indexes, purpose.id, organisation_id)
    else:
        answers = [
            answer_json(decision)
            for decision in service.check_many(email_indexes, purpose_code, organisation_id)
        ]
    head = json.dumps({"purpose": purpose_code, "organisation": organisation_id})
    return head[:-1] + ', "answers": [' + ",".join(answers) + "]}"


def answer_json(decision: service.Decision | None) -> str:
    if decision is None:
        return REFUSED
    flag = "true" if decision.granted else "false"
    return (
        f'{{"allowed":{flag},"decided_by":{{"record_id":{int(decision.record_id)},'
        f'"granted":{flag},"at":"{decision.at.isoformat()}",'
        f'"policy_version":{json.dumps(decision.policy_version)},'
        f'"source":{json.dumps(decision.source)}}}}}'
    )


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
