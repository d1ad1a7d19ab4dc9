"""The access export: a ZIP of ``data.json`` and ``report.html``, streamed into a sealed file.

Memory stays bounded whatever the subject's volume: each provider's records are written to
``data.json`` as they are yielded (one record per line), and their HTML rendering is deflated
into a sealed temporary spool; once ``data.json`` is complete, the report's head (which counts
the records) is deflated and the spool's DEFLATE data copied after it, as ``report.html``
(``zip_stream``). Neither the ZIP nor the report ever exists in clear on disk (``sealed_files``
encrypts as it writes).

The schema of ``data.json`` is documented in ``docs/access-export-schema.md``.
"""

from __future__ import annotations

import base64
import enum
import html
import itertools
import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from babel.dates import get_month_names
from flask_babel import force_locale, format_datetime, get_locale, gettext
from markupsafe import escape

from privacy_service.requests.labels import DATE_FIELDS, FIELD_LABELS, SECTION_LABELS
from privacy_service.requests.sealed_files import SealedWriter, open_sealed_writer, read_sealed
from privacy_service.requests.zip_stream import Deflater, ZipStream, joined
from privacy_service.subjects import Subject, SubjectDataProvider, providers

SCHEMA_VERSION = "1.0"
EXPORT_CONTEXT = "requests.access_export"
SPOOL_CONTEXT = "requests.report_spool"
# Deflate level 1: exports are JSON and compress well already; speed matters more (bench/).
COMPRESS_LEVEL = 1
FLUSH_BYTES = 256 * 1024
REPORT_LANGUAGES = ("en", "fr")


@dataclass
class ExportResult:
    record_counts: dict[str, int] = field(default_factory=dict)
    # Size of the ZIP in clear (what the requester downloads) and of the sealed file on disk.
    zip_bytes: int = 0
    sealed_bytes: int = 0


class _BufferedOut:
    """Gathers small writes into large ones (each write to a ``Deflater`` compresses a block)."""

    def __init__(self, target: Deflater) -> None:
        self._target = target
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, text: str) -> None:
        self.write_bytes(text.encode())

    def write_bytes(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._target.write(b"".join(self._parts))
            self._parts.clear()
            self._size = 0


def json_default(value: Any) -> Any:
    """Types providers may yield that json does not know."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=json_default, separators=(",", ":"))
# Datetimes and dataclasses go through json_default as they did with the json module (orjson
# would format them its own way), so a record encodes to the same text with either encoder.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def _encode_record(record: Any) -> bytes:
    """``record`` as compact UTF-8 JSON.

    orjson, several times faster than the json module on records (bench/access_export.py),
    gives the same text except for floats (``1.5e-7`` for ``1.5e-07``; ``null`` for NaN and
    infinities, which are not JSON). What it refuses (integers past 64 bits, keys that are not
    text, nesting past 254 levels) goes through the json module, whose output it would have been.
    """
    try:
        return orjson.dumps(record, default=json_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(record).encode()


def _text(value: str) -> str:
    """Escaped for element content; most values need no change, so look before replacing."""
    if "&" in value or "<" in value or ">" in value:
        return html.escape(value, quote=False)
    return value


def build_export(
    subject: Subject,
    destination: Path,
    *,
    request_info: dict[str, Any],
    now: datetime,
    section_providers: Iterable[SubjectDataProvider] | None = None,
    language: str = "en",
) -> ExportResult:
    """Write the sealed ZIP of everything ``providers()`` hold about ``subject`` to ``destination``.

    ``report.html`` is written for the requester, in ``language``; ``data.json`` keeps the
    machine names whatever the language. ``destination`` must not exist; on failure nothing is
    left behind.
    """
    if language not in REPORT_LANGUAGES:
        language = REPORT_LANGUAGES[0]
    with force_locale(language):
        return _build_export(subject, destination, request_info, now, section_providers)


def _build_export(
    subject: Subject,
    destination: Path,
    request_info: dict[str, Any],
    now: datetime,
    section_providers: Iterable[SubjectDataProvider] | None,
) -> ExportResult:
    chosen = list(providers() if section_providers is None else section_providers)
    result = ExportResult()
    handle, sealed = open_sealed_writer(destination, EXPORT_CONTEXT)
    try:
        with handle, tempfile.TemporaryFile(dir=destination.parent) as spool_file:
            archive = ZipStream(sealed.write)
            # report.html but its head (which counts the records), deflated into the spool.
            spool = SealedWriter(spool_file, SPOOL_CONTEXT)
            body = Deflater(spool.write, COMPRESS_LEVEL)
            report = _ReportBody(body)
            with archive.member("data.json", COMPRESS_LEVEL) as entry:
                out = _BufferedOut(entry)
                _write_data_json(out, subject, request_info, now, chosen, report, result)
                out.flush()
            report.close()
            body.close()
            spool.close()
            head_data: list[bytes] = []
            head = Deflater(head_data.append, COMPRESS_LEVEL)
            head.write(_report_head(subject, request_info, now, result).encode())
            head.close(last=False)
            spool_file.seek(0)
            archive.add_deflated(
                "report.html",
                joined(head, body),
                itertools.chain(head_data, read_sealed(spool_file, SPOOL_CONTEXT)),
            )
            archive.close()
            sealed.close()
            result.zip_bytes = archive.bytes_written
            result.sealed_bytes = sealed.bytes_written
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return result


def _write_data_json(
    out: _BufferedOut,
    subject: Subject,
    request_info: dict[str, Any],
    now: datetime,
    chosen: list[SubjectDataProvider],
    report: _ReportBody,
    result: ExportResult,
) -> None:
    out.write(
        "{"
        f'"schema_version":{_dumps(SCHEMA_VERSION)},'
        f'"generated_at":{_dumps(now.isoformat())},'
        f'"request":{_dumps(request_info)},'
        f'"subject":{_dumps({"email": subject.email})},'
        '"sections":{'
    )
    render = report.render
    for position, provider in enumerate(chosen):
        section = provider.section
        out.write(("," if position else "") + f'\n{_dumps(section)}:{{"records":[')
        report.start_section(section)
        count = 0
        # Records are encoded and rendered one by one but written a batch at a time: one write
        # per record cost more than the encoding itself (bench/access_export.py).
        lines: list[bytes] = []
        pages: list[str] = []
        pending = 0
        for record in provider.export(subject):
            line = _encode_record(record)
            page = render(record)
            lines.append(line)
            pages.append(page)
            count += 1
            pending += len(line) + len(page)
            if pending >= FLUSH_BYTES:
                _write_records(out, report, lines, pages, first=count == len(lines))
                pending = 0
        if lines:
            _write_records(out, report, lines, pages, first=count == len(lines))
        out.write(f'\n],"record_count":{count}}}')
        report.end_section(count)
        result.record_counts[section] = count
    out.write("\n}}\n")


def _write_records(
    out: _BufferedOut, report: _ReportBody, lines: list[bytes], pages: list[str], *, first: bool
) -> None:
    out.write_bytes((b"\n" if first else b",\n") + b",\n".join(lines))
    report.records(pages)
    lines.clear()
    pages.clear()


# --- report.html ----------------------------------------------------------------------------


def _localised(render: Callable[[], str]) -> str:
    """``render()`` in the report's language (the locale forced for the export), escaped."""
    return str(escape(str(render())))


def _section_title(section: str) -> str:
    label = SECTION_LABELS.get(section)
    if label is None:
        return str(escape(section))
    return _localised(lambda: str(label))


class _ReportBody:
    """Renders each record to HTML as it passes, deflated into the sealed spool."""

    def __init__(self, body: Deflater) -> None:
        self._out = _BufferedOut(body)
        self._none = _localised(lambda: gettext("No record."))
        self.render = html_renderer()

    def start_section(self, section: str) -> None:
        self._out.write(
            f'<section id="section-{escape(section)}"><h2>{_section_title(section)}</h2>\n'
        )

    def records(self, pages: list[str]) -> None:
        """Write records already rendered by ``render``."""
        self._out.write('<div class="record">' + _RECORD_SEPARATOR.join(pages) + "</div>\n")

    def end_section(self, count: int) -> None:
        if count == 0:
            self._out.write(f'<p class="empty">{self._none}</p>\n')
        self._out.write("</section>\n")

    def close(self) -> None:
        self._out.write("</body></html>\n")
        self._out.flush()


_RECORD_SEPARATOR = '</div>\n<div class="record">'
# Table shapes an export keeps, so records of ever new keys cannot fill the memory.
_TEMPLATES_MAX = 1024


def html_renderer() -> Callable[[Any], str]:
    """A function giving the HTML of a record value, for one export; text is escaped (it only
    lands in element content).

    Written for speed, as it runs for every value of every record (bench/access_export.py). A
    dict is a table, and the records of a section share a few key sequences: the markup of each
    is built once as a ``%`` template (keys escaped in it) that a record fills with its values,
    the common flat ones (text that needs no escaping, integers) as they are. Templates belong to
    one export: keys may be a customer's CSV headers, which outlive no export. Markers are ASCII
    character references, so the report's text stays one byte per character until it is
    encoded (a dash in every record made encoding it cost as much as rendering it). A closure
    rather than an object: no attribute look-up per value.
    """
    templates: dict[tuple[Any, ...], tuple[str, tuple[int, ...]]] = {}
    date_text = _date_formatter()

    def render(value: Any) -> str:
        kind = type(value)
        if kind is dict:
            if not value:
                return _NONE
            keys = tuple(value)
            shape = templates.get(keys)
            if shape is None:
                shape = _table_template(keys, templates)
            return _fill(value, shape, render, date_text)
        if kind is str:
            return _text(value)
        if kind is int or kind is float:
            return str(value)
        if value is None:
            return _NONE
        if kind is bool:
            return "&#10003;" if value else "&#10007;"
        if isinstance(value, dict):
            return render(dict(value))
        if isinstance(value, list | tuple | set | frozenset):
            if not value:
                return _NONE
            return "<ol><li>" + "</li><li>".join([render(item) for item in value]) + "</li></ol>"
        if isinstance(value, datetime | date | Decimal | enum.Enum | bytes):
            value = json_default(value)
        return _text(str(value))

    return render


_NONE = "&#8212;"  # an em dash


def _field_label(key: Any) -> str:
    """A field's name for the requester: a known machine name in words, anything else (such as
    a customer's own column names) as it was written."""
    label = FIELD_LABELS.get(key) if type(key) is str else None
    return str(label) if label is not None else str(key)


def _table_template(
    keys: tuple[Any, ...], templates: dict[tuple[Any, ...], tuple[str, tuple[int, ...]]]
) -> tuple[str, tuple[int, ...]]:
    """The ``%`` template of a table of ``keys`` and the positions of its dates, kept in
    ``templates`` if it may be."""
    # Without the optional end tags of cells and rows (HTML standard §13.1.2.4: the browser
    # builds the same table), a quarter less report to deflate, seal and spool.
    template = (
        "<table>"
        + "".join(f"<tr><th>{_text(_field_label(key)).replace('%', '%%')}<td>%s" for key in keys)
        + "</table>"
    )
    dates = tuple(position for position, key in enumerate(keys) if key in DATE_FIELDS)
    # Text keys only: True, 1 and 1.0 are one key to a dict but print differently.
    if all(type(key) is str for key in keys) and len(templates) < _TEMPLATES_MAX:
        templates[keys] = (template, dates)
    return template, dates


def _fill(
    value: dict[Any, Any],
    shape: tuple[str, tuple[int, ...]],
    render: Callable[[Any], str],
    date_text: Callable[[str], str | None],
) -> str:
    """The table template filled with the values of ``value``, rendered (dates for people)."""
    template, dates = shape
    cells = [
        item
        if ((kind := type(item)) is str and "&" not in item and "<" not in item and ">" not in item)
        or kind is int
        else render(item)
        for item in value.values()
    ]
    if dates:
        items = list(value.values())
        for position in dates:
            item = items[position]
            if isinstance(item, datetime | date):
                item = item.isoformat()
            if type(item) is str:
                cells[position] = date_text(item) or cells[position]
    return template % tuple(cells)


def _date_formatter() -> Callable[[str], str | None]:
    """ISO 8601 text as the requester reads a date ("15 Jan 2024, 10:30 UTC"), in the export's
    language; built once per export, as cheap as a string format per date (a Babel pattern per
    value would double the cost of large exports)."""
    locale = get_locale()
    months = get_month_names("abbreviated", locale=locale)
    utc = gettext("UTC")

    def date_text(value: str) -> str | None:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if len(value) == 10:
            return f"{moment.day} {months[moment.month]} {moment.year}"
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return f"{moment.day} {months[moment.month]} {moment.year}, {moment:%H:%M} {utc}"

    return date_text


_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#1d2433}table{border-collapse:collapse;width:100%}th,td{text-align:left;"
    "vertical-align:top;padding:.2rem .4rem;border-bottom:1px solid #d9dde6}th{width:14rem;"
    "font-weight:600}.record{border:1px solid #d9dde6;border-radius:4px;margin:.5rem 0;"
    "padding:.25rem}.empty,.hint{color:#5b6478}"
)


def _report_head(
    subject: Subject, request_info: dict[str, Any], now: datetime, result: ExportResult
) -> str:
    """report.html up to its sections: introduction, request, summary of the record counts."""
    language = str(get_locale())
    title = _localised(lambda: gettext("Your personal data"))
    intro = _localised(
        lambda: gettext(
            "This report lists everything Privacy Service holds about %(email)s, section by "
            "section, as you asked under your right of access (GDPR art. 15).",
            email=subject.email,
        )
    )
    machine = _localised(
        lambda: gettext(
            "The same data, complete and machine-readable, is in data.json in this archive "
            "(you may reuse it elsewhere: GDPR art. 20)."
        )
    )
    date_text = _date_formatter()
    received = request_info.get("received_at")
    if received:
        asked = _localised(
            lambda: gettext(
                "Your request of %(date)s, answered on %(today)s.",
                date=date_text(received) or received,
                today=format_datetime(now, "medium"),
            )
        )
    else:
        asked = _localised(
            lambda: gettext("Prepared on %(today)s.", today=format_datetime(now, "medium"))
        )
    summary_label = _localised(lambda: gettext("Summary"))
    records_label = _localised(lambda: gettext("Records"))
    parts = [
        f'<!doctype html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        # Opened from the ZIP, offline: the style is inline and the page loads nothing.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<style>{_STYLE}</style></head><body>\n<h1>{title}</h1>\n",
        f'<p>{intro}</p>\n<p class="hint">{machine}</p>\n<p class="hint">{asked}</p>\n',
        f"<h2>{summary_label}</h2><table>\n",
    ]
    for section, count in result.record_counts.items():
        parts.append(
            f'<tr><th><a href="#section-{escape(section)}">{_section_title(section)}</a></th>'
            f'<td>{count} <span class="hint">{records_label}</span></td></tr>\n'
        )
    parts.append("</table>\n")
    return "".join(parts)
