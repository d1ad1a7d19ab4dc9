"""CSV export of a list, streamed so a large list never sits in memory.

Privacy policy §2: the customer may export its lists at any time. The columns are the ones the
import recognises (``email``, ``name``, ``status``, ``consent_source``, ``consent_date``, then one
per custom attribute), so exporting and importing into a new list gives the same contacts.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from privacy_service import audit
from privacy_service.extensions import db
from privacy_service.mail.imports import escape_for_spreadsheet
from privacy_service.mail.models import Contact, ContactList, ListMembership

FIXED_COLUMNS = ["email", "name", "status", "consent_source", "consent_date"]
_CHUNK = 1000


def _memberships(list_id: int, organisation_id: int) -> Iterator[tuple[ListMembership, Contact]]:
    """Keyset pages of the list, so every page is a short query and memory stays flat."""
    after = 0
    while True:
        page = db.session.execute(
            select(ListMembership, Contact)
            .join(Contact, Contact.id == ListMembership.contact_id)
            .where(
                ListMembership.list_id == list_id,
                Contact.organisation_id == organisation_id,
                ListMembership.id > after,
            )
            .order_by(ListMembership.id)
            .limit(_CHUNK)
        ).all()
        if not page:
            return
        yield from ((membership, contact) for membership, contact in page)
        after = page[-1][0].id
        db.session.expunge_all()


def _attribute_names(list_id: int, organisation_id: int) -> list[str]:
    names: set[str] = set()
    for _, contact in _memberships(list_id, organisation_id):
        names.update((contact.attributes or {}).keys())
    return sorted(names)


def format_consent_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    if moment.time() == time():
        return moment.date().isoformat()
    return moment.isoformat()


def export_rows(list_id: int, organisation_id: int) -> Iterator[list[str]]:
    """The header, then one row per member; two passes: the first collects attribute names."""
    attributes = _attribute_names(list_id, organisation_id)
    yield FIXED_COLUMNS + attributes
    for membership, contact in _memberships(list_id, organisation_id):
        values = contact.attributes or {}
        yield [
            escape_for_spreadsheet(value)
            for value in (
                contact.email,
                contact.name or "",
                membership.status,
                membership.consent_source or "",
                format_consent_date(membership.consent_at),
                *(str(values.get(name, "")) for name in attributes),
            )
        ]


def csv_chunks(rows: Iterable[list[Any]], rows_per_chunk: int = 500) -> Iterator[str]:
    """CSV text in chunks of rows, for a streamed response.

    Every cell is escaped for spreadsheets here, headers included: a header cell holds a name a
    customer chose (an attribute, an uploaded column) and is run as a formula just like data.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for count, row in enumerate(rows, start=1):
        writer.writerow([escape_for_spreadsheet(str(cell)) for cell in row])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def record_export(contact_list: ContactList, actor: str, now: datetime) -> int:
    """Audit the export before it streams (the count is the list's size at that moment)."""
    count = (
        db.session.scalar(select(func.count()).where(ListMembership.list_id == contact_list.id))
        or 0
    )
    audit.record(
        actor,
        "mail.list_exported",
        contact_list.audit_ref,
        {"organisation_id": contact_list.organisation_id, "contacts": count},
        now=now,
    )
    return count


def export_filename(list_name: str, now: datetime, zone: str) -> str:
    """``Newsletter clients-2026-03-01.csv``: the list's name and the day in the organisation's
    time zone, without characters a file system or a header would refuse."""
    day = now.astimezone(ZoneInfo(zone)).date().isoformat()
    name = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|;]+', " ", list_name)
    name = re.sub(r"\s+", " ", name).strip(" .") or "list"
    return f"{name[:100]}-{day}.csv"


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback for old clients and the UTF-8 name (RFC 5987) for the rest."""
    ascii_name = (
        unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode().replace('"', "")
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
