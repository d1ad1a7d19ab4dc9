"""CSV import of contacts into a list.

1. ``create_import``: the upload (UTF-8 or Latin-1, comma or semicolon) is stored encrypted and
   its header read; the job waits for its column mapping.
2. ``preview`` / ``start_import``: the customer maps columns (guessed from the header), states the
   consent source and date, and sees the first rows with their verdicts; starting queues the job.
3. ``run_import``: a worker claims the job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL plus a
   conditional update, so two workers never share one) and processes it in batches. Each batch
   inserts its contacts, memberships and rejected rows and moves the job's checkpoint in ONE
   transaction, the checkpoint update last and conditional on the worker's claim. A crash leaves
   the last committed batch intact and nothing of the next: resuming starts right after it.
4. An import whose worker vanished is marked interrupted; the customer resumes or rolls it back
   (rollback removes what the job added), so nothing is ever left half-applied silently.

Every refused row keeps its number (as in a spreadsheet: the header is row 1), a reason and its
values, encrypted, with any sensitive value blanked, for the downloadable reject file. Importing
the same file twice adds nothing: an address already in the list is refused as such.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import structlog
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from privacy_service import audit
from privacy_service.crypto import keyring
from privacy_service.errors import Conflict, InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.mail import list_consent
from privacy_service.mail.bulk import insert_rows, insert_rows_returning_ids, matches_any
from privacy_service.mail.models import (
    Contact,
    ContactList,
    ImportJob,
    ImportReject,
    ImportState,
    ListMembership,
    SubscriptionOrigin,
    SubscriptionStatus,
)
from privacy_service.mail.schemas import parse_consent_date
from privacy_service.mail.sensitive import (
    Finding,
    check_field,
    name_marks_health,
    refuse_sensitive_data,
    scan_value,
)
from privacy_service.mail.service import (
    ATTRIBUTE_NAME_MAX,
    ATTRIBUTE_VALUE_MAX,
    MAX_ATTRIBUTES,
)
from privacy_service.mail.suppression import suppressed_indexes
from privacy_service.validation import EMAIL_MAX_LENGTH

log = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE = 1000
PREVIEW_ROWS = 10
NAME_MAX = 200
SOURCE_MAX = 200

EMAIL, NAME, STATUS, CONSENT_SOURCE, CONSENT_DATE, ATTRIBUTE, IGNORE = (
    "email",
    "name",
    "status",
    "consent_source",
    "consent_date",
    "attribute",
    "ignore",
)
TARGETS = (EMAIL, NAME, STATUS, CONSENT_SOURCE, CONSENT_DATE, ATTRIBUTE, IGNORE)
SINGLE_TARGETS = (EMAIL, NAME, STATUS, CONSENT_SOURCE, CONSENT_DATE)
TARGET_LABELS = {
    EMAIL: _l("Email address"),
    NAME: _l("Name"),
    STATUS: _l("Subscription status"),
    CONSENT_SOURCE: _l("Consent source"),
    CONSENT_DATE: _l("Consent date"),
    ATTRIBUTE: _l("Custom attribute (named after the column)"),
    IGNORE: _l("Ignore this column"),
}

REASONS = {
    "malformed_row": _l("The row has more values than the header has columns."),
    "missing_email": _l("No email address."),
    "invalid_email": _l("Invalid email address."),
    "duplicate_in_file": _l("Duplicate of row %(row)s in this file."),
    "already_in_list": _l("Already in this list."),
    "suppressed": _l(
        "The address is on the suppression list (erased, unsubscribed, bounced or complained)."
    ),
    "sensitive_data": _l("Sensitive data."),
    "value_too_long": _l("“%(column)s” is too long."),
    "invalid_status": _l("“%(column)s” is not a known status (use subscribed or unsubscribed)."),
    "pending_status": _l(
        "A contact still waiting for its double opt-in confirmation cannot be imported."
    ),
    "invalid_consent_date": _l("“%(column)s” is not a valid past date (YYYY-MM-DD)."),
    "missing_consent": _l("No consent source or date: a marketing list needs both."),
    "withdrawn_later": _l(
        "The person withdrew their consent after this consent date: they can only subscribe "
        "again themselves."
    ),
}

# Values that a spreadsheet would run as a formula; exports prefix them with a quote (OWASP
# "CSV injection") and imports take the quote off again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STATUS_WORDS = {
    "": SubscriptionStatus.SUBSCRIBED.value,
    "subscribed": SubscriptionStatus.SUBSCRIBED.value,
    "abonne": SubscriptionStatus.SUBSCRIBED.value,
    "abonné": SubscriptionStatus.SUBSCRIBED.value,
    "unsubscribed": SubscriptionStatus.UNSUBSCRIBED.value,
    "desabonne": SubscriptionStatus.UNSUBSCRIBED.value,
    "désabonné": SubscriptionStatus.UNSUBSCRIBED.value,
    "pending": SubscriptionStatus.PENDING.value,
    "en attente": SubscriptionStatus.PENDING.value,
}
_HEADER_GUESSES = {
    EMAIL: {
        "email",
        "e mail",
        "mail",
        "courriel",
        "email address",
        "adresse email",
        "adresse e mail",
        "adresse mail",
        "adresse electronique",
        "e mail address",
        "email adresse",
        "adresse de courriel",
        "mel",
    },
    NAME: {
        "name",
        "nom",
        "full name",
        "fullname",
        "nom complet",
        "contact name",
        "first name",
        "firstname",
        "given name",
        "prenom",
        "nom et prenom",
        "prenom et nom",
    },
    STATUS: {"status", "statut", "subscription status"},
    CONSENT_SOURCE: {"consent source", "source du consentement", "source"},
    CONSENT_DATE: {"consent date", "date du consentement", "date de consentement"},
}
_SIMPLE_LOCAL_PART = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)


# --- reading the file --------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedFile:
    headers: list[str]
    rows: list[tuple[int, list[str]]]


def decode_upload(raw: bytes, choice: str = "auto") -> tuple[str, str]:
    """The text and the encoding name ("utf-8" or "latin-1") of an uploaded CSV file."""
    if choice in ("auto", "utf-8"):
        try:
            return raw.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            if choice == "utf-8":
                raise InvalidInput(
                    fields={"encoding": [str(_l("The file is not UTF-8; choose Latin-1 instead."))]}
                ) from None
    # "Latin-1" as spreadsheets write it: Windows-1252, falling back to ISO-8859-1.
    try:
        return raw.decode("cp1252"), "latin-1"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def detect_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def parse_csv(text: str, delimiter: str) -> ParsedFile:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        rows = [
            (number, values)
            for number, values in enumerate(reader, start=2)
            if any(value.strip() for value in values)
        ]
    except StopIteration:
        raise InvalidInput(fields={"file": [str(_l("The file is empty."))]}) from None
    except csv.Error:
        raise InvalidInput(
            fields={"file": [str(_l("The file is not valid CSV (check quotes and separators)."))]}
        ) from None
    headers = [
        _unescape(name).strip() or str(_l("Column %(number)s", number=position + 1))
        for position, name in enumerate(header)
    ]
    if not any(name.strip() for name in header):
        raise InvalidInput(fields={"file": [str(_l("The first row must name the columns."))]})
    return ParsedFile(headers, rows)


def _unescape(value: str) -> str:
    if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA_START:
        return value[1:]
    return value


def escape_for_spreadsheet(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _plain_header(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"[\s_\-.]+", " ", text).strip()


def guess_mapping(headers: Sequence[str]) -> list[str]:
    """A first mapping from the header names; health-marked columns start as ignored."""
    mapping: list[str] = []
    taken: set[str] = set()
    for name in headers:
        plain = _plain_header(name)
        target = next(
            (
                candidate
                for candidate, names in _HEADER_GUESSES.items()
                if candidate not in taken and plain in names
            ),
            None,
        )
        if target is None:
            target = IGNORE if name_marks_health(name) else ATTRIBUTE
        else:
            taken.add(target)
        mapping.append(target)
    return mapping


# --- addresses -----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _normalised_domain(domain: str) -> str | None:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def normalise_address(value: str) -> str | None:
    """The address as ``validation.normalise_email`` would give it, or None when invalid.

    Imports check many addresses: a plain ASCII local part only needs its domain checked, and a
    list has few distinct domains, so their checks are cached. Anything else takes the full path.
    """
    text = value.strip()
    if not text or len(text) > EMAIL_MAX_LENGTH:
        return None
    local, at, domain = text.rpartition("@")
    if at and len(local) <= 64 and _SIMPLE_LOCAL_PART.fullmatch(local):
        normalised = _normalised_domain(domain)
        if normalised is None:
            return None
        address = f"{local}@{normalised}"
        return address if len(address) <= EMAIL_MAX_LENGTH else None
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


# --- the plan of one job -------------------------------------------------------------------------


@dataclass
class Columns:
    email: int
    name: int | None = None
    status: int | None = None
    consent_source: int | None = None
    consent_date: int | None = None
    attributes: list[tuple[int, str]] = field(default_factory=list)


def columns_from_mapping(headers: Sequence[str], mapping: Sequence[str]) -> Columns:
    positions: dict[str, int] = {}
    attributes = []
    for position, target in enumerate(mapping):
        if target in SINGLE_TARGETS:
            positions[target] = position
        elif target == ATTRIBUTE:
            attributes.append((position, headers[position]))
    return Columns(
        email=positions[EMAIL],
        name=positions.get(NAME),
        status=positions.get(STATUS),
        consent_source=positions.get(CONSENT_SOURCE),
        consent_date=positions.get(CONSENT_DATE),
        attributes=attributes,
    )


@dataclass
class Plan:
    """A job's file, parsed once per worker, with each row's address and blind index."""

    job_id: int
    list_id: int
    organisation_id: int
    is_marketing: bool
    headers: list[str]
    rows: list[tuple[int, list[str]]]
    columns: Columns
    consent_source: str | None
    consent_at: datetime | None
    emails: list[str | None]
    indexes: list[str | None]
    first_row: dict[str, int]


def build_plan(
    job_id: int,
    contact_list: ContactList,
    parsed: ParsedFile,
    targets: Sequence[str],
    consent_source: str | None,
    consent_at: datetime | None,
) -> Plan:
    columns = columns_from_mapping(parsed.headers, targets)
    ring = keyring()
    emails: list[str | None] = []
    indexes: list[str | None] = []
    first_row: dict[str, int] = {}
    for number, values in parsed.rows:
        raw = _unescape(values[columns.email]) if columns.email < len(values) else ""
        address = normalise_address(raw) if raw.strip() else None
        index = ring.blind_index(address) if address else None
        emails.append(address)
        indexes.append(index)
        if index is not None and index not in first_row:
            first_row[index] = number
    return Plan(
        job_id=job_id,
        list_id=contact_list.id,
        organisation_id=contact_list.organisation_id,
        is_marketing=contact_list.is_marketing,
        headers=parsed.headers,
        rows=parsed.rows,
        columns=columns,
        consent_source=consent_source,
        consent_at=consent_at,
        emails=emails,
        indexes=indexes,
        first_row=first_row,
    )


@dataclass
class Accepted:
    row_number: int
    email: str
    email_index: str
    name: str | None
    attributes: dict[str, str] | None
    status: str
    consent_source: str | None
    consent_at: datetime | None
    values: list[str]


@dataclass
class Rejected:
    row_number: int
    reason: str
    values: list[str]
    column: str | None = None
    detail: str | None = None
    email_index: str | None = None


def _blank_sensitive(values: list[str], plan: Plan) -> list[str]:
    """The row as stored for the reject file: sensitive values are never kept."""
    return [
        "" if position != plan.columns.email and value and scan_value(value) else value
        for position, value in enumerate(values)
    ]


def classify(plan: Plan, position: int, now: datetime) -> Accepted | Rejected:
    """The verdict on one row from its own content (the database checks come after)."""
    number, raw_values = plan.rows[position]
    values = [_unescape(value).strip() for value in raw_values]
    headers, columns = plan.headers, plan.columns
    index = plan.indexes[position]

    def reject(reason: str, column: int | None = None, detail: str | None = None) -> Rejected:
        return Rejected(
            number,
            reason,
            _blank_sensitive(values, plan),
            headers[column] if column is not None else None,
            detail,
            index,
        )

    def cell(column: int | None) -> str:
        return values[column] if column is not None and column < len(values) else ""

    if len(values) > len(headers) and any(values[len(headers) :]):
        return reject("malformed_row")
    if not cell(columns.email):
        return reject("missing_email", columns.email)
    address = plan.emails[position]
    if address is None or index is None:
        return reject("invalid_email", columns.email)

    name = cell(columns.name) or None
    source = cell(columns.consent_source) or plan.consent_source
    checked: list[tuple[int, str]] = []
    if name:
        checked.append((columns.name, name))  # type: ignore[arg-type]
    if cell(columns.consent_source):
        checked.append((columns.consent_source, source))  # type: ignore[arg-type]
    attributes: dict[str, str] = {}
    for column, attribute in columns.attributes:
        value = cell(column)
        if value:
            attributes[attribute] = value
            checked.append((column, value))
    for column, value in checked:
        finding = check_field(headers[column], value)
        if finding is not None:
            detail = finding.reason + (f":{finding.kind}" if finding.kind else "")
            return reject("sensitive_data", column, detail)

    if plan.first_row.get(index) != number:
        return reject("duplicate_in_file", columns.email, str(plan.first_row[index]))
    if name and len(name) > NAME_MAX:
        return reject("value_too_long", columns.name)
    if source and len(source) > SOURCE_MAX:
        return reject("value_too_long", columns.consent_source)
    for column, attribute in columns.attributes:
        if len(attributes.get(attribute, "")) > ATTRIBUTE_VALUE_MAX:
            return reject("value_too_long", column)

    status = _STATUS_WORDS.get(cell(columns.status).casefold())
    if status is None:
        return reject("invalid_status", columns.status)
    if status == SubscriptionStatus.PENDING.value:
        return reject("pending_status", columns.status)

    consent_at = plan.consent_at
    if cell(columns.consent_date):
        try:
            consent_at = parse_consent_date(cell(columns.consent_date))
        except ValidationError:
            return reject("invalid_consent_date", columns.consent_date)
        if consent_at > now:
            return reject("invalid_consent_date", columns.consent_date)
    # Privacy policy §2: the customer must hold each marketing contact's consent.
    if (
        plan.is_marketing
        and status == SubscriptionStatus.SUBSCRIBED.value
        and (not source or consent_at is None)
    ):
        return reject("missing_consent")
    return Accepted(
        number,
        address,
        index,
        name,
        attributes or None,
        status,
        source,
        consent_at,
        values,
    )


@dataclass
class BatchVerdicts:
    accepted: list[Accepted]
    rejected: list[Rejected]
    existing_contacts: dict[str, int]


def judge_batch(plan: Plan, positions: range, now: datetime) -> BatchVerdicts:
    """Row verdicts plus the checks that need the database: suppression and list membership."""
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for position in positions:
        verdict = classify(plan, position, now)
        (accepted if isinstance(verdict, Accepted) else rejected).append(verdict)
    indexes = [row.email_index for row in accepted]
    suppressed = suppressed_indexes(indexes, plan.organisation_id) if indexes else set()
    # GDPR art. 7(3): evidence dated before the person's withdrawal does not subscribe them.
    withdrawn = (
        list_consent.withdrawals_by_index(indexes, plan.organisation_id)
        if indexes and plan.is_marketing
        else {}
    )
    existing = _existing_contacts(plan.organisation_id, indexes)
    in_list = _contacts_in_list(plan.list_id, list(existing.values()))
    kept: list[Accepted] = []
    for row in accepted:
        if row.email_index in suppressed or existing.get(row.email_index) in in_list:
            if row.email_index in suppressed:
                # An erased or suppressed address must not come back in through the reject
                # file: only the row number and the reason are kept.
                blank = [""] * len(row.values)
                rejected.append(Rejected(row.row_number, "suppressed", blank, None, None, None))
                continue
            values = _blank_sensitive(row.values, plan)
            rejected.append(
                Rejected(row.row_number, "already_in_list", values, None, None, row.email_index)
            )
        elif (
            row.email_index in withdrawn
            and row.status == SubscriptionStatus.SUBSCRIBED.value
            and row.consent_at is not None
            and row.consent_at <= withdrawn[row.email_index]
        ):
            values = _blank_sensitive(row.values, plan)
            rejected.append(
                Rejected(row.row_number, "withdrawn_later", values, None, None, row.email_index)
            )
        else:
            kept.append(row)
    rejected.sort(key=lambda row: row.row_number)
    return BatchVerdicts(kept, rejected, existing)


def _existing_contacts(organisation_id: int, indexes: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(indexes), 1000):
        chunk = indexes[start : start + 1000]
        found.update(
            (index, contact_id)
            for contact_id, index in db.session.execute(
                select(Contact.id, Contact.email_index).where(
                    matches_any(Contact.email_index, chunk),
                    Contact.organisation_id == organisation_id,
                )
            )
        )
    return found


def _contacts_in_list(list_id: int, contact_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(contact_ids), 1000):
        chunk = contact_ids[start : start + 1000]
        found.update(
            db.session.scalars(
                select(ListMembership.contact_id).where(
                    ListMembership.list_id == list_id,
                    matches_any(ListMembership.contact_id, chunk),
                )
            )
        )
    return found


# --- creating, mapping and previewing a job -----------------------------------------------------


def create_import(
    contact_list: ContactList,
    file_name: str,
    raw: bytes,
    encoding_choice: str,
    delimiter_choice: str,
    now: datetime,
    user_id: int | None,
) -> ImportJob:
    if not raw.strip():
        raise InvalidInput(fields={"file": [str(_l("The file is empty."))]})
    text, encoding = decode_upload(raw, encoding_choice)
    delimiter = detect_delimiter(text) if delimiter_choice == "auto" else delimiter_choice
    parsed = parse_csv(text, delimiter)
    if not parsed.rows:
        raise InvalidInput(fields={"file": [str(_l("The file has a header but no rows."))]})
    job = ImportJob(
        organisation_id=contact_list.organisation_id,
        list_id=contact_list.id,
        created_by_id=user_id,
        state=ImportState.MAPPING.value,
        file_name=file_name[:255] or "contacts.csv",
        file_content=raw,
        encoding=encoding,
        delimiter=delimiter,
        headers=parsed.headers,
        mapping={"targets": guess_mapping(parsed.headers)},
        total_rows=len(parsed.rows),
        processed_rows=0,
        imported_count=0,
        rejected_count=0,
        created_at=now,
    )
    db.session.add(job)
    db.session.flush()
    return job


def parsed_file(job: ImportJob) -> ParsedFile:
    if job.file_content is None:
        raise Conflict(_l("The uploaded file is no longer kept."))
    text, _ = decode_upload(job.file_content, job.encoding)
    return parse_csv(text, job.delimiter)


def check_mapping(
    contact_list: ContactList,
    headers: Sequence[str],
    targets: Sequence[str],
    consent_source: str | None,
    consent_at: datetime | None,
    now: datetime,
) -> None:
    """Raise InvalidInput (``column_N``, ``consent_source``, ``consent_date``) if unusable."""
    messages: dict[str, list[str]] = {}
    if len(targets) != len(headers) or any(target not in TARGETS for target in targets):
        raise InvalidInput(fields={"_": [str(_l("Choose a use for every column."))]})
    for target in SINGLE_TARGETS:
        chosen = [position for position, value in enumerate(targets) if value == target]
        for position in chosen[1:]:
            messages.setdefault(f"column_{position}", []).append(
                str(_l("Only one column can be “%(target)s”.", target=TARGET_LABELS[target]))
            )
    if EMAIL not in targets:
        messages.setdefault("_", []).append(str(_l("Choose the column holding the email address.")))
    attribute_names: dict[str, int] = {}
    for position, target in enumerate(targets):
        if target != ATTRIBUTE:
            continue
        name = headers[position]
        key = f"column_{position}"
        if len(name) > ATTRIBUTE_NAME_MAX:
            messages.setdefault(key, []).append(
                str(_l("Attribute names have 1 to %(max)s characters.", max=ATTRIBUTE_NAME_MAX))
            )
        elif name.casefold() in attribute_names:
            messages.setdefault(key, []).append(str(_l("Two attribute columns have this name.")))
        elif name_marks_health(name):
            messages.setdefault(key, []).append(Finding(name, "health_data", in_name=True).message)
        attribute_names[name.casefold()] = position
    if len(attribute_names) > MAX_ATTRIBUTES:
        messages.setdefault("_", []).append(
            str(_l("At most %(count)s attributes per contact.", count=MAX_ATTRIBUTES))
        )
    if consent_at is not None and consent_at > now:
        messages.setdefault("consent_date", []).append(str(_l("The date cannot be in the future.")))
    if contact_list.is_marketing:
        # Privacy policy §2: no consent evidence, no import into a marketing list.
        if not consent_source and CONSENT_SOURCE not in targets:
            messages.setdefault("consent_source", []).append(
                str(_l("A marketing list needs the source of the contacts' consent."))
            )
        if consent_at is None and CONSENT_DATE not in targets:
            messages.setdefault("consent_date", []).append(
                str(_l("A marketing list needs the date of the contacts' consent."))
            )
    if messages:
        raise InvalidInput(fields=messages)
    refuse_sensitive_data({"consent_source": consent_source})


@dataclass(frozen=True)
class PreviewRow:
    row_number: int
    email: str
    name: str
    status: str
    attributes: dict[str, str]
    reason: str | None


def preview(
    job: ImportJob, contact_list: ContactList, targets: Sequence[str], now: datetime
) -> list[PreviewRow]:
    """The first rows as the import would treat them, without writing anything."""
    parsed = parsed_file(job)
    rows = ParsedFile(parsed.headers, parsed.rows[:PREVIEW_ROWS])
    if EMAIL not in targets:
        return []
    # The stated consent is checked on the form itself; here rows are judged on their own.
    plan = build_plan(job.id, contact_list, rows, targets, "preview", now)
    verdicts = judge_batch(plan, range(len(rows.rows)), now)
    by_row: dict[int, Accepted | Rejected] = {row.row_number: row for row in verdicts.accepted}
    by_row.update({row.row_number: row for row in verdicts.rejected})
    shown = []
    for number, _ in rows.rows:
        verdict = by_row[number]
        if isinstance(verdict, Accepted):
            shown.append(
                PreviewRow(
                    number,
                    verdict.email,
                    verdict.name or "",
                    verdict.status,
                    verdict.attributes or {},
                    None,
                )
            )
        else:
            values = verdict.values
            email = values[plan.columns.email] if plan.columns.email < len(values) else ""
            shown.append(PreviewRow(number, email, "", "", {}, reason_text(verdict)))
    return shown


def mask_address(value: str) -> str:
    """``ad•••a@example.org``: enough to recognise a row, not enough to copy the address."""
    local, at, domain = value.strip().rpartition("@")
    if not at:
        local, domain = value.strip(), ""
    hidden = local[:1] + "•••" if len(local) <= 2 else local[:2] + "•••" + local[-1]
    return f"{hidden}@{domain}" if at else hidden


def rejected_address(job: ImportJob, reject: ImportReject) -> str:
    """The refused row's address, masked in the middle ("" when the row had none)."""
    targets = (job.mapping or {}).get("targets") or []
    if EMAIL not in targets:
        return ""
    position = targets.index(EMAIL)
    values = reject.row_values or []
    value = values[position] if position < len(values) else ""
    return mask_address(value) if value.strip() else ""


def missing_choices(
    contact_list: ContactList,
    targets: Sequence[str],
    consent_source: str | None,
    consent_at: object,
) -> list[str]:
    """What the mapping page still needs before the import can start, in plain words."""
    missing = []
    if EMAIL not in targets:
        missing.append(
            str(
                _l(
                    "No column is used as the email address yet: choose it in the list below, "
                    "then update the preview."
                )
            )
        )
    if contact_list.is_marketing:
        if not consent_source and CONSENT_SOURCE not in targets:
            missing.append(
                str(
                    _l(
                        "This is a marketing list: say where these people gave their consent "
                        "(the consent source below), or choose a column that holds it."
                    )
                )
            )
        if consent_at is None and CONSENT_DATE not in targets:
            missing.append(
                str(
                    _l(
                        "This is a marketing list: give the date of their consent below, or "
                        "choose a column that holds it."
                    )
                )
            )
    return missing


def reason_text(reject: Rejected | ImportReject) -> str:
    reason = reject.reason
    column = reject.column if isinstance(reject, Rejected) else reject.column_name
    if reason == "sensitive_data":
        code, _, kind = (reject.detail or "").partition(":")
        return Finding(column or "", code, kind or None).message
    if reason == "duplicate_in_file":
        return str(REASONS[reason] % {"row": reject.detail})
    template = REASONS.get(reason, reason)
    return (
        str(template % {"column": column or ""}) if "%(column)s" in str(template) else str(template)
    )


def start_import(
    job: ImportJob,
    contact_list: ContactList,
    targets: Sequence[str],
    consent_source: str | None,
    consent_at: datetime | None,
    now: datetime,
    actor: str,
) -> None:
    if job.state != ImportState.MAPPING.value:
        raise Conflict(_l("This import has already started."))
    check_mapping(contact_list, job.headers, targets, consent_source, consent_at, now)
    job.mapping = {"targets": list(targets)}
    job.consent_source = consent_source
    job.consent_at = consent_at
    job.state = ImportState.QUEUED.value
    db.session.flush()
    audit.record(
        actor,
        "mail.import_started",
        job.audit_ref,
        {
            "list_id": contact_list.id,
            "rows": job.total_rows,
            "targets": sorted(set(targets)),
            "consent_stated": bool(consent_source and consent_at),
        },
        now=now,
    )


# --- the worker ----------------------------------------------------------------------------------


def claim_next_import(now: datetime) -> tuple[int, str] | None:
    """Claim the oldest queued job for this worker; None when there is none to take."""
    job_id = db.session.scalar(
        select(ImportJob.id)
        .where(ImportJob.state == ImportState.QUEUED.value)
        .order_by(ImportJob.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if job_id is None:
        db.session.rollback()
        return None
    token = secrets.token_hex(16)
    claimed = db.session.execute(
        update(ImportJob.__table__)
        .where(
            ImportJob.__table__.c.id == job_id,
            ImportJob.__table__.c.state == ImportState.QUEUED.value,
        )
        .values(
            state=ImportState.RUNNING.value,
            claim_token=token,
            heartbeat_at=now,
            started_at=func.coalesce(ImportJob.__table__.c.started_at, now),
        )
    ).rowcount
    db.session.commit()
    return (job_id, token) if claimed == 1 else None


@dataclass
class RunOutcome:
    job_id: int
    state: str
    batches: int = 0


def run_import(
    job_id: int,
    token: str,
    now: Callable[[], datetime],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    throttle: float = 0.0,
) -> RunOutcome:
    """Process a claimed job to the end, one atomic batch (rows + checkpoint) at a time."""
    job = db.session.get(ImportJob, job_id)
    if job is None or job.claim_token != token:
        db.session.rollback()
        return RunOutcome(job_id, "lost")
    try:
        contact_list = db.session.get(ContactList, job.list_id)
        plan = build_plan(
            job.id,
            contact_list,
            parsed_file(job),
            job.mapping["targets"],
            job.consent_source,
            job.consent_at,
        )
    except Exception as exc:
        db.session.rollback()
        return _fail(job_id, token, exc, now())
    processed, imported, rejected = job.processed_rows, job.imported_count, job.rejected_count
    # The customer who started the import attested the consents it records.
    actor = f"user:{job.created_by_id}" if job.created_by_id else "system"
    db.session.commit()
    outcome = RunOutcome(job_id, ImportState.RUNNING.value)
    while processed < len(plan.rows):
        positions = range(processed, min(processed + batch_size, len(plan.rows)))
        for attempt in range(3):
            try:
                added, refused = _apply_batch(plan, positions, now(), actor)
                moved = _checkpoint(
                    job_id,
                    token,
                    processed,
                    positions.stop,
                    imported + added,
                    rejected + refused,
                    now(),
                )
                if not moved:
                    # Stopped by the customer, or declared interrupted and resumed elsewhere.
                    db.session.rollback()
                    outcome.state = "lost"
                    return outcome
                db.session.commit()
                break
            except IntegrityError:
                # Someone added one of these addresses meanwhile: judge the batch again.
                db.session.rollback()
                if attempt == 2:
                    return _fail(job_id, token, RuntimeError("conflicts"), now())
            except Exception as exc:
                db.session.rollback()
                return _fail(job_id, token, exc, now())
        processed, imported, rejected = positions.stop, imported + added, rejected + refused
        outcome.batches += 1
        if throttle:
            time.sleep(throttle)
    return _finish(job_id, token, plan, imported, rejected, now(), outcome)


def _apply_batch(
    plan: Plan, positions: range, now: datetime, actor: str = "system"
) -> tuple[int, int]:
    verdicts = judge_batch(plan, positions, now)
    contact_ids = dict(verdicts.existing_contacts)
    contact_ids.update(
        insert_rows_returning_ids(
            Contact.__table__,
            [
                {
                    "organisation_id": plan.organisation_id,
                    "email": row.email,
                    "email_index": row.email_index,
                    "name": row.name,
                    "attributes": row.attributes,
                    "import_job_id": plan.job_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for row in verdicts.accepted
                if row.email_index not in contact_ids
            ],
            key="email_index",
        )
    )
    insert_rows(
        ListMembership.__table__,
        [
            {
                "list_id": plan.list_id,
                "contact_id": contact_ids[row.email_index],
                "status": row.status,
                "origin": SubscriptionOrigin.IMPORT.value,
                "consent_source": row.consent_source,
                "consent_at": row.consent_at,
                "unsubscribed_at": now
                if row.status == SubscriptionStatus.UNSUBSCRIBED.value
                else None,
                "import_job_id": plan.job_id,
                "created_at": now,
                "updated_at": now,
            }
            for row in verdicts.accepted
        ],
    )
    if plan.is_marketing:
        # One truth: each subscription is a consent record with the customer's evidence.
        list_consent.record_imported_subscriptions(
            [
                list_consent.ImportedConsent(
                    row.email, row.email_index, row.consent_at, row.consent_source
                )
                for row in verdicts.accepted
                if row.status == SubscriptionStatus.SUBSCRIBED.value and row.consent_at
            ],
            organisation_id=plan.organisation_id,
            list_id=plan.list_id,
            import_job_id=plan.job_id,
            now=now,
            actor=actor,
        )
    insert_rows(
        ImportReject.__table__,
        [
            {
                "job_id": plan.job_id,
                "row_number": row.row_number,
                "reason": row.reason,
                "column_name": row.column,
                "detail": row.detail,
                "row_values": row.values,
                "email_index": row.email_index,
            }
            for row in verdicts.rejected
        ],
    )
    return len(verdicts.accepted), len(verdicts.rejected)


def _checkpoint(
    job_id: int,
    token: str,
    processed_before: int,
    processed: int,
    imported: int,
    rejected: int,
    now: datetime,
) -> bool:
    """Move the checkpoint, in the batch's transaction, only if this worker still holds the job."""
    table = ImportJob.__table__
    return (
        db.session.execute(
            update(table)
            .where(
                table.c.id == job_id,
                table.c.claim_token == token,
                table.c.state == ImportState.RUNNING.value,
                table.c.processed_rows == processed_before,
            )
            .values(
                processed_rows=processed,
                imported_count=imported,
                rejected_count=rejected,
                heartbeat_at=now,
            )
        ).rowcount
        == 1
    )


def _finish(
    job_id: int,
    token: str,
    plan: Plan,
    imported: int,
    rejected: int,
    now: datetime,
    outcome: RunOutcome,
) -> RunOutcome:
    table = ImportJob.__table__
    done = db.session.execute(
        update(table)
        .where(
            table.c.id == job_id,
            table.c.claim_token == token,
            table.c.state == ImportState.RUNNING.value,
        )
        .values(
            state=ImportState.DONE.value,
            claim_token=None,
            finished_at=now,
            heartbeat_at=now,
            # Privacy by design: the uploaded file goes as soon as it has been used.
            file_content=None,
        )
    ).rowcount
    if done != 1:
        db.session.rollback()
        outcome.state = "lost"
        return outcome
    audit.record(
        "system",
        "mail.import_completed",
        f"import_job:{job_id}",
        {
            "list_id": plan.list_id,
            "rows": len(plan.rows),
            "imported": imported,
            "rejected": rejected,
        },
        now=now,
    )
    db.session.commit()
    outcome.state = ImportState.DONE.value
    return outcome


def _fail(job_id: int, token: str, error: Exception, now: datetime) -> RunOutcome:
    log.error("import_failed", job_id=job_id, error_type=type(error).__name__)
    table = ImportJob.__table__
    failed = db.session.execute(
        update(table)
        .where(table.c.id == job_id, table.c.claim_token == token)
        .values(
            state=ImportState.FAILED.value, claim_token=None, error_code=type(error).__name__[:60]
        )
    ).rowcount
    if failed:
        audit.record(
            "system",
            "mail.import_failed",
            f"import_job:{job_id}",
            {"error": type(error).__name__},
            now=now,
        )
    db.session.commit()
    return RunOutcome(job_id, ImportState.FAILED.value)


def process_queued_imports(
    now: Callable[[], datetime],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    throttle: float = 0.0,
    max_jobs: int | None = None,
) -> list[RunOutcome]:
    """Claim and run queued jobs until none is left (or ``max_jobs`` were run)."""
    outcomes = []
    while max_jobs is None or len(outcomes) < max_jobs:
        claim = claim_next_import(now())
        if claim is None:
            break
        outcomes.append(run_import(*claim, now, batch_size=batch_size, throttle=throttle))
    return outcomes


def detect_interrupted_imports(
    now: datetime, stale_after: timedelta, job_id: int | None = None
) -> list[int]:
    """Jobs whose worker stopped checkpointing are marked interrupted (and audited)."""
    table = ImportJob.__table__
    query = select(ImportJob.id).where(
        ImportJob.state == ImportState.RUNNING.value,
        ImportJob.heartbeat_at < now - stale_after,
    )
    if job_id is not None:
        query = query.where(ImportJob.id == job_id)
    stale = list(db.session.scalars(query))
    marked = []
    for stale_id in stale:
        changed = db.session.execute(
            update(table)
            .where(
                table.c.id == stale_id,
                table.c.state == ImportState.RUNNING.value,
                table.c.heartbeat_at < now - stale_after,
            )
            .values(state=ImportState.INTERRUPTED.value, claim_token=None)
        ).rowcount
        if changed:
            marked.append(stale_id)
            audit.record("system", "mail.import_interrupted", f"import_job:{stale_id}", now=now)
    db.session.flush()
    return marked


# --- customer actions on a job ------------------------------------------------------------------

RESUMABLE = (ImportState.INTERRUPTED.value, ImportState.FAILED.value)


def get_import(contact_list: ContactList, job_id: int) -> ImportJob:
    job = db.session.scalar(
        select(ImportJob).where(
            ImportJob.id == job_id,
            ImportJob.list_id == contact_list.id,
            ImportJob.organisation_id == contact_list.organisation_id,
        )
    )
    if job is None:
        raise NotFound()
    return job


def list_imports(contact_list: ContactList, limit: int = 10) -> list[ImportJob]:
    return list(
        db.session.scalars(
            select(ImportJob)
            .where(
                ImportJob.list_id == contact_list.id,
                ImportJob.organisation_id == contact_list.organisation_id,
            )
            .order_by(ImportJob.id.desc())
            .limit(limit)
        )
    )


def resume_import(job: ImportJob, now: datetime, actor: str) -> None:
    if job.state not in RESUMABLE:
        raise Conflict(_l("Only an interrupted or failed import can be resumed."))
    job.state = ImportState.QUEUED.value
    job.claim_token = None
    job.error_code = None
    db.session.flush()
    audit.record(
        actor, "mail.import_resumed", job.audit_ref, {"from_row": job.processed_rows}, now=now
    )


def stop_import(job: ImportJob, now: datetime, actor: str) -> None:
    """Stop a queued or running job after its current batch (that batch is then not applied)."""
    if job.state not in (ImportState.QUEUED.value, ImportState.RUNNING.value):
        raise Conflict(_l("This import is not running."))
    job.state = ImportState.INTERRUPTED.value
    job.claim_token = None
    db.session.flush()
    audit.record(
        actor, "mail.import_stopped", job.audit_ref, {"at_row": job.processed_rows}, now=now
    )


def rollback_import(job: ImportJob, now: datetime, actor: str) -> dict[str, int]:
    """Remove everything the job added: its memberships, and its contacts left in no list."""
    if job.state not in RESUMABLE:
        raise Conflict(_l("Only an interrupted or failed import can be rolled back."))
    added = (ListMembership.list_id == job.list_id, ListMembership.import_job_id == job.id)
    touched = list(db.session.scalars(select(ListMembership.contact_id).where(*added)))
    memberships = db.session.execute(delete(ListMembership).where(*added)).rowcount
    contacts = 0
    for start in range(0, len(touched), 1000):
        # Contacts this job created and that no other list holds go too.
        contacts += db.session.execute(
            delete(Contact).where(
                Contact.id.in_(touched[start : start + 1000]),
                Contact.import_job_id == job.id,
                ~exists().where(ListMembership.contact_id == Contact.id),
            )
        ).rowcount
    db.session.execute(delete(ImportReject).where(ImportReject.job_id == job.id))
    consents = list_consent.purge_imported_subscriptions(job.list_id, job.id, now, actor)
    job.state = ImportState.ROLLED_BACK.value
    job.file_content = None
    job.finished_at = now
    db.session.flush()
    counts = {"memberships": memberships, "contacts": contacts, "consent_records": consents}
    audit.record(actor, "mail.import_rolled_back", job.audit_ref, counts, now=now)
    return counts


def discard_import(job: ImportJob, now: datetime, actor: str) -> None:
    if job.state != ImportState.MAPPING.value:
        raise Conflict(_l("This import has already started."))
    job.state = ImportState.DISCARDED.value
    job.file_content = None
    job.finished_at = now
    db.session.flush()


def job_rejects(job: ImportJob, limit: int | None = None) -> list[ImportReject]:
    query = (
        select(ImportReject).where(ImportReject.job_id == job.id).order_by(ImportReject.row_number)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def reject_rows(job: ImportJob) -> Iterator[list[str]]:
    """The reject file: row number, reason, column, then the row's values (header first)."""
    yield [str(_l("Row")), str(_l("Reason")), str(_l("Column")), *job.headers]
    after = 0
    while True:
        batch = list(
            db.session.scalars(
                select(ImportReject)
                .where(ImportReject.job_id == job.id, ImportReject.row_number > after)
                .order_by(ImportReject.row_number)
                .limit(1000)
            )
        )
        if not batch:
            return
        for reject in batch:
            yield [
                str(reject.row_number),
                reason_text(reject),
                reject.column_name or "",
                *[escape_for_spreadsheet(value) for value in reject.row_values],
            ]
        after = batch[-1].row_number


def purge_import_leftovers(
    now: datetime, keep_rejects: timedelta, abandon_after: timedelta
) -> dict[str, int]:
    """Storage limitation (GDPR art. 5(1)(e)): uploads never mapped are dropped, and reject files
    of finished imports are deleted after ``keep_rejects``."""
    abandoned = list(
        db.session.scalars(
            select(ImportJob.id).where(
                ImportJob.state == ImportState.MAPPING.value,
                ImportJob.created_at < now - abandon_after,
            )
        )
    )
    if abandoned:
        db.session.execute(
            update(ImportJob.__table__)
            .where(ImportJob.__table__.c.id.in_(abandoned))
            .values(state=ImportState.DISCARDED.value, file_content=None, finished_at=now)
        )
    finished = select(ImportJob.id).where(
        and_(
            ImportJob.state.in_((ImportState.DONE.value, ImportState.ROLLED_BACK.value)),
            ImportJob.finished_at < now - keep_rejects,
        )
    )
    rejects = db.session.execute(
        delete(ImportReject).where(ImportReject.job_id.in_(finished))
    ).rowcount
    db.session.flush()
    counts = {"abandoned_uploads": len(abandoned), "rejected_rows": rejects}
    if any(counts.values()):
        audit.record("system", "mail.import_leftovers_purged", None, counts, now=now)
    return counts
