"""The sensitive-data guard: contact data must never hold card numbers, bank account numbers,
government identifiers or health data.

Privacy policy §2: customers may not put "government identifiers, card numbers, bank card numbers,
medical records" on their lists. Imports, custom attributes and the API all call this module.

Detection is deliberately narrow, so ordinary values pass: a number is flagged only when it has
the shape of the identifier *and* passes its check digits (python-stdnum). Phone numbers (leading
``+`` or ``0``) and short numbers such as postcodes are never candidates. A finding names the field
and the reason; it never carries the value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from flask_babel import lazy_gettext as _l
from stdnum import iban, luhn
from stdnum.be import nn as be_nn
from stdnum.cz import rc as cz_rc
from stdnum.dk import cpr as dk_cpr
from stdnum.ee import ik as ee_ik
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.fi import hetu as fi_hetu
from stdnum.fr import nir as fr_nir
from stdnum.gr import amka as gr_amka
from stdnum.ie import pps as ie_pps
from stdnum.it import codicefiscale as it_codicefiscale
from stdnum.pl import pesel as pl_pesel
from stdnum.pt import cc as pt_cc
from stdnum.ro import cnp as ro_cnp
from stdnum.se import personnummer as se_personnummer
from stdnum.si import emso as si_emso

from privacy_service.errors import InvalidInput

log = structlog.get_logger(__name__)

CARD_NUMBER = "card_number"
IBAN = "iban"
NATIONAL_ID = "national_id"
HEALTH_DATA = "health_data"
CHECK_FAILED = "check_failed"

# A value needs at least this many digits to hold any identifier we look for (the shortest,
# a Spanish NIE or an Irish PPS number, has seven).
_MIN_DIGITS = 7
# Alphanumeric groups, joined into runs by single separators: "4111 1111 1111 1111",
# "85.07.30-033.28".
_GROUP = re.compile(r"[A-Za-z0-9]+")
_RUN = re.compile(r"[A-Za-z0-9]+(?:[ .\-/+][A-Za-z0-9]+)*")
# Every identifier we look for has seven digits apart at most by a separator and a few letters
# ("GB82 WEST 1234", "85T10A562S"); a value without such a stretch needs no closer look.
_CANDIDATE = re.compile(r"\d(?:[ .\-/+]?[A-Za-z]{0,4}[ .\-/+]?\d){6}")
_WITHOUT_DIGITS = str.maketrans("", "", "0123456789")
_MAX_GROUPS = 9


@dataclass(frozen=True)
class _Identifier:
    code: str
    label: Any
    lengths: tuple[int, ...]
    raw_shape: re.Pattern[str]
    is_valid: Callable[[str], bool]


def _shape(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# National identifiers of EU countries that python-stdnum validates, each with the written shapes
# people actually use. Bare digit runs of 9-10 digits (Dutch BSN, Bulgarian EGN, German tax id)
# are left out: too many phone and customer numbers would pass their one check digit.
NATIONAL_IDENTIFIERS: tuple[_Identifier, ...] = (
    _Identifier(
        "fr_nir",
        _l("French social security number (NIR)"),
        (15,),
        _shape(r"[1-478](?:[ .]?\d{2}){2}[ .]?(?:\d{2}|2A|2B)[ .]?\d{3}[ .]?\d{3}[ .]?\d{2}"),
        fr_nir.is_valid,
    ),
    _Identifier(
        "be_nn",
        _l("Belgian national register number"),
        (11,),
        _shape(r"\d{2}\.?\d{2}\.?\d{2}[-.]?\d{3}\.?\d{2}"),
        be_nn.is_valid,
    ),
    _Identifier("es_dni", _l("Spanish DNI"), (9,), _shape(r"\d{8}[- ]?[A-Z]"), es_dni.is_valid),
    _Identifier(
        "es_nie", _l("Spanish NIE"), (9,), _shape(r"[XYZ][- ]?\d{7}[- ]?[A-Z]"), es_nie.is_valid
    ),
    _Identifier(
        "it_codice_fiscale",
        _l("Italian fiscal code"),
        (16,),
        _shape(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"),
        it_codicefiscale.is_valid,
    ),
    _Identifier(
        "pt_cc",
        _l("Portuguese citizen card number"),
        (12,),
        _shape(r"\d{8}[ ]?\d[ ]?[A-Z]{2}\d"),
        pt_cc.is_valid,
    ),
    _Identifier("pl_pesel", _l("Polish PESEL"), (11,), _shape(r"\d{11}"), pl_pesel.is_valid),
    _Identifier(
        "se_personnummer",
        _l("Swedish personal identity number"),
        (10, 12),
        _shape(r"(?:\d{2})?\d{6}[-+]\d{4}"),
        se_personnummer.is_valid,
    ),
    _Identifier("dk_cpr", _l("Danish CPR number"), (10,), _shape(r"\d{6}-\d{4}"), dk_cpr.is_valid),
    _Identifier(
        "fi_hetu",
        _l("Finnish personal identity code"),
        (10, 11),
        _shape(r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]"),
        fi_hetu.is_valid,
    ),
    _Identifier("ro_cnp", _l("Romanian CNP"), (13,), _shape(r"[1-9]\d{12}"), ro_cnp.is_valid),
    _Identifier(
        "cz_rc",
        _l("Czech or Slovak birth number"),
        (9, 10),
        _shape(r"\d{6}/\d{3,4}"),
        cz_rc.is_valid,
    ),
    _Identifier(
        "ie_pps", _l("Irish PPS number"), (8, 9), _shape(r"\d{7}[A-W][ABWTXZ]?"), ie_pps.is_valid
    ),
    _Identifier(
        "ee_ik",
        _l("Estonian or Lithuanian personal code"),
        (11,),
        _shape(r"[1-6]\d{10}"),
        ee_ik.is_valid,
    ),
    _Identifier("gr_amka", _l("Greek AMKA"), (11,), _shape(r"\d{11}"), gr_amka.is_valid),
    _Identifier("si_emso", _l("Slovenian EMŠO"), (13,), _shape(r"\d{13}"), si_emso.is_valid),
)
_IDENTIFIER_LABELS = {identifier.code: identifier.label for identifier in NATIONAL_IDENTIFIERS}
_BY_LENGTH: dict[int, list[_Identifier]] = {}
for _identifier in NATIONAL_IDENTIFIERS:
    for _length in _identifier.lengths:
        _BY_LENGTH.setdefault(_length, []).append(_identifier)
# Card numbers 13-19 characters, IBANs 15-34, identifiers their own lengths.
_LENGTHS = frozenset(range(13, 35)) | frozenset(_BY_LENGTH)
_LONGEST = max(_LENGTHS)

_CARD_SHAPE = re.compile(r"\d+(?:[ -]\d+)*")
_IBAN_SHAPE = re.compile(r"[A-Za-z]{2}\d{2}[A-Za-z0-9]*(?: [A-Za-z0-9]+)*")

# Words that mark health data (GDPR art. 9), English and French, compared without accents.
# Attribute names use the wide list; values only the narrow one (no "cancer": it is a star sign).
_HEALTH_STEMS_IN_VALUES = (
    "diagnos",
    "diabet",
    "seropositi",
    "chemotherap",
    "chimiotherap",
    "patholog",
    "pregnan",
    "enceinte",
    "grossesse",
    "medical record",
    "dossier medical",
    "prescription",
    "ordonnance medicale",
    "medication",
    "medicament",
    "allerg",
    "asthm",
    "epilep",
    "alzheimer",
    "parkinson",
    "schizophren",
    "bipolar",
    "bipolaire",
    "oncolog",
    "tumour",
    "tumor",
    "tumeur",
    "sclerosis",
    "sclerose",
    "hepatitis",
    "hepatite",
    "disease",
    "maladie",
    "illness",
)
_HEALTH_WORDS_IN_VALUES = ("hiv", "vih", "sida", "aids")
_HEALTH_STEMS_IN_NAMES = (
    *_HEALTH_STEMS_IN_VALUES,
    "health",
    "sante",
    "medic",
    "disabilit",
    "handicap",
    "treatment",
    "traitement",
    "therap",
    "symptom",
    "sympto",
    "blood type",
    "blood group",
    "bloodtype",
    "bloodgroup",
    "groupe sanguin",
    "vaccin",
    "surgery",
    "chirurg",
    "psychiatr",
    "hospitali",
    "cancer",
    "mental",
    "sick",
    "ordonnance",
)


@dataclass(frozen=True)
class _HealthMarkers:
    """Words starting with a stem, whole short words, and two-word phrases."""

    stems: tuple[str, ...]
    words: frozenset[str]
    phrases: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, stems: Iterable[str], words: Iterable[str]) -> _HealthMarkers:
        stems = list(stems)
        return cls(
            tuple(stem for stem in stems if " " not in stem),
            frozenset(words),
            tuple(tuple(stem.split(" ", 1)) for stem in stems if " " in stem),  # type: ignore[misc]
        )

    def found_in(self, plain: str) -> bool:
        found = _WORD.findall(plain)
        for position, word in enumerate(found):
            if word.startswith(self.stems) or word in self.words:
                return True
            for first, second in self.phrases:
                if (
                    word == first
                    and found[position + 1 : position + 2]
                    and found[position + 1].startswith(second)
                ):
                    return True
        return False


_WORD = re.compile(r"[a-z]+")
_HEALTH_IN_VALUES = _HealthMarkers.of(_HEALTH_STEMS_IN_VALUES, _HEALTH_WORDS_IN_VALUES)
_HEALTH_IN_NAMES = _HealthMarkers.of(_HEALTH_STEMS_IN_NAMES, _HEALTH_WORDS_IN_VALUES)


@dataclass(frozen=True)
class Finding:
    """Why a field was refused: ``reason`` is a code, ``kind`` the identifier (never the value)."""

    field: str
    reason: str
    kind: str | None = None
    in_name: bool = False

    @property
    def explanation(self) -> Any:
        if self.reason == CARD_NUMBER:
            return _l("looks like a payment card number, which may not be stored")
        if self.reason == IBAN:
            return _l("looks like a bank account number (IBAN), which may not be stored")
        if self.reason == NATIONAL_ID:
            return _l(
                "looks like a national identification number (%(kind)s), which may not be stored",
                kind=_IDENTIFIER_LABELS.get(self.kind or "", self.kind),
            )
        if self.reason == CHECK_FAILED:
            return _l("could not be checked for sensitive data, so it was not stored")
        return _l("looks like health data, which may not be stored")

    @property
    def message(self) -> str:
        if self.in_name:
            return str(
                _l(
                    "The name “%(field)s” marks health data, which may not be stored.",
                    field=self.field,
                )
            )
        return str(_l("“%(field)s” %(why)s.", field=self.field, why=self.explanation))


def _plain(text: str) -> str:
    """Lower case without accents, so "Santé" and "SANTE" match the same marker."""
    lowered = text.casefold()
    if lowered.isascii():
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def name_marks_health(name: str) -> bool:
    return _HEALTH_IN_NAMES.found_in(_plain(name))


def _runs(value: str) -> Iterable[list[tuple[int, int, int]]]:
    """Runs of groups joined by single separators, as (start, end, digits) per group; only
    runs with a candidate stretch (see ``_CANDIDATE``) are looked at."""
    for run in _RUN.finditer(value):
        if not _CANDIDATE.search(run.group()):
            continue
        base = run.start()
        yield [
            (
                base + group.start(),
                base + group.end(),
                len(group.group()) - len(group.group().translate(_WITHOUT_DIGITS)),
            )
            for group in _GROUP.finditer(run.group())
        ]


def _phone_number(value: str, run: list[tuple[int, int, int]]) -> bool:
    """ "+33 6 12 34 56 78", "06.12.34.56.78", "07911 123456": an international prefix or a
    leading 0, short digit groups, one kind of separator, 8 to 15 digits. No card number starts
    so; an identifier written like this (a leading 0 and one separator) is not recognised."""
    first_start = run[0][0]
    if not (value[first_start - 1 : first_start] == "+" or value[first_start] == "0"):
        return False
    if any(end - start != digits or digits > 5 for start, end, digits in run):
        return False
    separators = {value[start - 1] for start, _, _ in run[1:]}
    return len(separators) <= 1 and 8 <= sum(digits for _, _, digits in run) <= 15


def _spans(value: str) -> Iterable[tuple[str, str, str]]:
    """Runs of up to ``_MAX_GROUPS`` consecutive groups that could be an identifier.

    A span must hold at least ``_MIN_DIGITS`` digits, start with a group holding a digit (or a
    lone letter, as in "X-1234567-L") and end with a group holding a digit (or at most two
    letters, as in "12345678 Z"), and have the length of some identifier; ordinary words and
    short numbers are skipped before any string is built. Yields the span as written, its
    separators removed, and the character before it.
    """
    for run in _runs(value):
        if _phone_number(value, run):
            continue
        count = len(run)
        for first in range(count):
            start, first_end, first_digits = run[first]
            if not first_digits and first_end - start != 1:
                continue
            length = found = 0
            for last in range(first, min(first + _MAX_GROUPS, count)):
                group_start, group_end, digits = run[last]
                width = group_end - group_start
                length += width
                found += digits
                if length > _LONGEST:
                    break
                if found < _MIN_DIGITS or length not in _LENGTHS or (not digits and width > 2):
                    continue
                raw = value[start:group_end]
                compact = "".join(value[a:b] for a, b, _ in run[first : last + 1])
                yield raw, compact, value[start - 1] if start else ""


def _card_or_iban(raw: str, compact: str, preceding: str) -> tuple[str, str | None] | None:
    if (
        13 <= len(compact) <= 19
        and compact.isdigit()
        and compact[0] in "23456"
        and preceding != "+"
        and _CARD_SHAPE.fullmatch(raw)
        and luhn.is_valid(compact)
    ):
        return CARD_NUMBER, None
    if 15 <= len(compact) <= 34 and _IBAN_SHAPE.fullmatch(raw) and iban.is_valid(compact):
        return IBAN, None
    return None


def _national_identifier(raw: str, compact: str, preceding: str) -> str | None:
    if preceding == "+" or (compact[:1] == "0" and raw.replace(" ", "").isdigit()):
        # Phone numbers: international "+44 7911 ..." and national "07911 ..." forms.
        return None
    for identifier in _BY_LENGTH.get(len(compact), ()):
        if not identifier.raw_shape.fullmatch(raw):
            continue
        try:
            if identifier.is_valid(raw) or identifier.is_valid(compact):
                return identifier.code
        except Exception as error:
            # Fail closed: a check that crashes refuses the value rather than letting it
            # through. The log names the check and the error, never the value.
            log.warning(
                "sensitive_check_failed", check=identifier.code, error_type=type(error).__name__
            )
            return identifier.code
    return None


def scan_value(value: str) -> tuple[str, str | None] | None:
    """``(reason, kind)`` when ``value`` holds sensitive data, else None."""
    if not value:
        return None
    if _CANDIDATE.search(value):
        for raw, compact, preceding in _spans(value):
            found = _card_or_iban(raw, compact, preceding)
            if found:
                return found
            code = _national_identifier(raw, compact, preceding)
            if code:
                return NATIONAL_ID, code
    if _HEALTH_IN_VALUES.found_in(_plain(value)):
        return HEALTH_DATA, None
    return None


def check_field(field: str, value: Any, *, check_name: bool = False) -> Finding | None:
    """The finding for one field (its name too when ``check_name``), or None."""
    if check_name and name_marks_health(field):
        return Finding(field, HEALTH_DATA, in_name=True)
    if value is None:
        return None
    try:
        found = scan_value(str(value))
    except Exception as error:
        # Fail closed, as above: an unchecked value is not stored.
        log.warning("sensitive_check_failed", check="scan", error_type=type(error).__name__)
        return Finding(field, CHECK_FAILED)
    if found is None:
        return None
    return Finding(field, found[0], found[1])


def check_fields(values: Mapping[str, Any], *, check_names: bool = False) -> list[Finding]:
    findings = []
    for field, value in values.items():
        finding = check_field(field, value, check_name=check_names)
        if finding is not None:
            findings.append(finding)
    return findings


def refuse_sensitive_data(
    values: Mapping[str, Any],
    attributes: Mapping[str, Any] | None = None,
    *,
    attribute_key: str = "attributes.{name}",
) -> None:
    """Raise InvalidInput naming each offending field; attribute names are checked too.

    ``attribute_key`` says under which error key an attribute's finding goes (the API names the
    attribute, an HTML form puts them all under its one attributes field).
    """
    messages: dict[str, list[str]] = {}
    for finding in check_fields(values):
        messages.setdefault(finding.field, []).append(finding.message)
    for finding in check_fields(attributes or {}, check_names=True):
        messages.setdefault(attribute_key.format(name=finding.field), []).append(finding.message)
    if messages:
        raise InvalidInput(fields=messages)
