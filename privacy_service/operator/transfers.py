"""Where personal data may go: the transfer guard, safeguards and the sub-processor register.

Privacy policy §4: data stays in the EU/EEA or in a country the European Commission recognises
as adequate (GDPR art. 45). Every outgoing target (a webhook, the SMTP relay, a sub-processor)
carries a country; a target elsewhere is refused unless the DPO recorded a safeguard for it
(GDPR art. 46: standard contractual clauses with their date, binding corporate rules, or a
Data Privacy Framework certification).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from babel import Locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from privacy_service import audit
from privacy_service.config import ConfigurationError
from privacy_service.errors import InvalidInput, NotFound
from privacy_service.extensions import db
from privacy_service.operator.models import (
    SafeguardMechanism,
    SubProcessor,
    TargetKind,
    TransferSafeguard,
)

# EU member states and the other EEA states (Iceland, Liechtenstein, Norway).
_EEA_CODES = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO"
)
EEA = frozenset(_EEA_CODES.split())
# Adequacy decisions in force (GDPR art. 45): Andorra, Argentina, Canada (commercial
# organisations), Faroe Islands, Guernsey, Israel, Isle of Man, Japan, Jersey, New Zealand,
# Republic of Korea, Switzerland, United Kingdom, Uruguay. The United States are adequate only
# for organisations certified under the Data Privacy Framework: that needs a recorded safeguard.
_ADEQUATE_CODES = "AD AR CA FO GG IL IM JP JE NZ KR CH GB UY"
ADEQUATE = frozenset(_ADEQUATE_CODES.split())

MECHANISM_NAMES = {
    SafeguardMechanism.SCC.value: _l("Standard contractual clauses"),
    SafeguardMechanism.BCR.value: _l("Binding corporate rules"),
    SafeguardMechanism.DPF.value: _l("Data Privacy Framework certification"),
}
TARGET_NAMES = {
    TargetKind.WEBHOOK.value: _l("Webhook"),
    TargetKind.SMTP_RELAY.value: _l("SMTP relay"),
    TargetKind.SUB_PROCESSOR.value: _l("Sub-processor"),
}


def is_adequate(country: str) -> bool:
    """Inside the EU/EEA or covered by an adequacy decision."""
    return country.upper() in EEA or country.upper() in ADEQUATE


def country_name(code: str, locale: str = "en") -> str:
    return Locale.parse(locale).territories.get(code.upper(), code.upper())


def find_safeguard(kind: str, target: str, country: str) -> TransferSafeguard | None:
    """The standing safeguard covering ``target`` of ``kind`` in ``country``, if any."""
    return db.session.scalar(
        select(TransferSafeguard)
        .where(
            TransferSafeguard.target_kind == kind,
            TransferSafeguard.target == target.lower(),
            TransferSafeguard.country == country.upper(),
            TransferSafeguard.revoked_at.is_(None),
        )
        .order_by(TransferSafeguard.id.desc())
        .limit(1)
    )


def ensure_transfer_allowed(
    kind: str, target: str, country: str, field: str = "country"
) -> TransferSafeguard | None:
    """Refuse a target outside the adequate set without a safeguard; returns that safeguard."""
    if is_adequate(country):
        return None
    safeguard = find_safeguard(kind, target, country)
    if safeguard is None:
        raise InvalidInput(
            _l(
                "Personal data may not go to this country: it is outside the EU/EEA and has no "
                "adequacy decision. The DPO must first record a safeguard (standard contractual "
                "clauses with their date) for this target."
            ),
            fields={
                field: [
                    _l(
                        "No adequacy decision for this country and no safeguard recorded for "
                        "this target."
                    )
                ]
            },
        )
    return safeguard


def record_safeguard(
    *,
    kind: str,
    target: str,
    country: str,
    mechanism: str,
    signed_on: date,
    actor: str,
    now: datetime,
    reference: str | None = None,
) -> TransferSafeguard:
    safeguard = TransferSafeguard(
        target_kind=kind,
        target=target.strip().lower(),
        country=country.upper(),
        mechanism=mechanism,
        signed_on=signed_on,
        reference=reference,
        recorded_by=actor,
        recorded_at=now,
    )
    db.session.add(safeguard)
    db.session.flush()
    audit.record(
        actor,
        "transfers.safeguard_recorded",
        safeguard.audit_ref,
        {
            "kind": kind,
            "country": safeguard.country,
            "mechanism": mechanism,
            "signed_on": signed_on.isoformat(),
        },
        now=now,
    )
    return safeguard


def revoke_safeguard(safeguard_id: int, actor: str, now: datetime) -> TransferSafeguard:
    safeguard = db.session.get(TransferSafeguard, safeguard_id)
    if safeguard is None:
        raise NotFound()
    if safeguard.revoked_at is None:
        safeguard.revoked_at = now
        audit.record(actor, "transfers.safeguard_revoked", safeguard.audit_ref, now=now)
    return safeguard


def safeguards() -> list[TransferSafeguard]:
    return list(db.session.scalars(select(TransferSafeguard).order_by(TransferSafeguard.id)))


def add_sub_processor(
    *,
    name: str,
    country: str,
    purpose_en: str,
    purpose_fr: str,
    data_categories: str,
    actor: str,
    now: datetime,
) -> SubProcessor:
    """Add a sub-processor; one outside the adequate set needs a safeguard recorded first."""
    if db.session.scalar(select(SubProcessor.id).where(SubProcessor.name == name)) is not None:
        raise InvalidInput(fields={"name": [_l("This sub-processor is already listed.")]})
    safeguard = ensure_transfer_allowed(TargetKind.SUB_PROCESSOR.value, name, country)
    processor = SubProcessor(
        name=name,
        country=country.upper(),
        purpose_en=purpose_en,
        purpose_fr=purpose_fr,
        data_categories=data_categories,
        safeguard=safeguard,
        added_by=actor,
        added_at=now,
    )
    db.session.add(processor)
    db.session.flush()
    audit.record(
        actor,
        "transfers.sub_processor_added",
        processor.audit_ref,
        {"country": processor.country, "safeguard": safeguard.id if safeguard else None},
        now=now,
    )
    return processor


def remove_sub_processor(processor_id: int, actor: str, now: datetime) -> SubProcessor:
    processor = db.session.get(SubProcessor, processor_id)
    if processor is None:
        raise NotFound()
    if processor.removed_at is None:
        processor.removed_at = now
        audit.record(actor, "transfers.sub_processor_removed", processor.audit_ref, now=now)
    return processor


def sub_processors() -> list[SubProcessor]:
    """The current sub-processors, by name."""
    return list(
        db.session.scalars(
            select(SubProcessor)
            .where(SubProcessor.removed_at.is_(None))
            .order_by(SubProcessor.name)
        )
    )


def smtp_relay_safeguard(config: Mapping[str, Any]) -> tuple[str, date] | None:
    """``SMTP_TRANSFER_SAFEGUARD`` ("scc:2025-01-31") as (mechanism, date), else None."""
    value = (config.get("SMTP_TRANSFER_SAFEGUARD") or "").strip()
    if not value:
        return None
    mechanism, _, signed = value.partition(":")
    try:
        signed_on = date.fromisoformat(signed.strip())
    except ValueError:
        raise ConfigurationError(
            "PRIVACY_SERVICE_SMTP_TRANSFER_SAFEGUARD must read MECHANISM:YYYY-MM-DD "
            "(for instance scc:2025-01-31)"
        ) from None
    if mechanism.strip().lower() not in MECHANISM_NAMES:
        raise ConfigurationError(
            "PRIVACY_SERVICE_SMTP_TRANSFER_SAFEGUARD: the mechanism is one of "
            + ", ".join(MECHANISM_NAMES)
        )
    return mechanism.strip().lower(), signed_on


def check_smtp_relay(config: Mapping[str, Any]) -> None:
    """Refuse to start with a relay outside the adequate set and no safeguard configured."""
    country = (config.get("SMTP_COUNTRY") or "").strip().upper()
    if len(country) != 2 or country not in Locale("en").territories:
        raise ConfigurationError("PRIVACY_SERVICE_SMTP_COUNTRY must be an ISO 3166 code (FR)")
    safeguard = smtp_relay_safeguard(config)
    if config.get("SMTP_HOST") and not is_adequate(country) and safeguard is None:
        raise ConfigurationError(
            f"the SMTP relay is in {country}, outside the EU/EEA and without an adequacy "
            "decision: set PRIVACY_SERVICE_SMTP_TRANSFER_SAFEGUARD=scc:YYYY-MM-DD once the "
            "standard contractual clauses are signed (privacy policy, section 4)"
        )
