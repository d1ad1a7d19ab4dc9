"""VAT on our invoices and amounts in Decimal, rounded half-up to the cent.

FAQ: prices exclude VAT and French VAT applies; a European business outside France that gives a
valid intra-community VAT number is exempt (reverse charge). The number's format and check digits
are validated per country with python-stdnum (no VIES call: the service works offline; staff can
still refuse an exemption at review). Outside the EU, no VAT.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

SELLER_COUNTRY = "FR"
FRENCH_VAT_RATE = Decimal("20.00")  # taux normal, article 278 du CGI
CENT = Decimal("0.01")
EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
# VAT numbers use EL for Greece (ISO 3166: GR).
_VAT_PREFIX = {"GR": "EL"}


class VatTreatment(enum.StrEnum):
    FRENCH_VAT = "french_vat"
    REVERSE_CHARGE = "reverse_charge"
    OUTSIDE_EU = "outside_eu"


MENTIONS = {
    VatTreatment.FRENCH_VAT: None,
    VatTreatment.REVERSE_CHARGE: _l(
        "Reverse charge: VAT to be accounted for by the customer (article 196 of Council "
        "Directive 2006/112/EC; article 283-2 of the French tax code)."
    ),
    VatTreatment.OUTSIDE_EU: _l("VAT not applicable (article 259-1 of the French tax code)."),
}


@dataclass(frozen=True)
class VatDecision:
    treatment: VatTreatment
    rate: Decimal

    @property
    def mention(self) -> object:
        return MENTIONS[self.treatment]


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def valid_vat_number(number: str | None, country: str | None) -> bool:
    """A well-formed number with valid check digits, issued by the customer's own country."""
    if not number or not country:
        return False
    try:
        compact = eu_vat.compact(number)
    except ValidationError:
        return False
    return compact.startswith(_VAT_PREFIX.get(country, country)) and eu_vat.is_valid(compact)


def vat_for(country: str | None, vat_number: str | None) -> VatDecision:
    """Which VAT applies to a customer established in ``country``.

    A customer who has not told us its country is treated as French: French VAT is the FAQ's
    default, and never under-charging is the safe side.
    """
    country = (country or SELLER_COUNTRY).upper()
    if country == SELLER_COUNTRY:
        return VatDecision(VatTreatment.FRENCH_VAT, FRENCH_VAT_RATE)
    if country in EU_COUNTRIES:
        if valid_vat_number(vat_number, country):
            return VatDecision(VatTreatment.REVERSE_CHARGE, Decimal("0.00"))
        return VatDecision(VatTreatment.FRENCH_VAT, FRENCH_VAT_RATE)
    return VatDecision(VatTreatment.OUTSIDE_EU, Decimal("0.00"))


@dataclass(frozen=True)
class LineAmount:
    description: str
    quantity: Decimal
    unit_price: Decimal
    net_amount: Decimal


@dataclass(frozen=True)
class Amounts:
    lines: tuple[LineAmount, ...]
    vat: VatDecision
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal


def compute_amounts(lines: Iterable[tuple[str, Decimal, Decimal]], vat: VatDecision) -> Amounts:
    """Each line rounded to the cent, VAT computed once on the net total: the printed lines add
    up to the net total and net + VAT is the gross total, to the cent."""
    computed = tuple(
        LineAmount(description, quantity, unit_price, round_cents(quantity * unit_price))
        for description, quantity, unit_price in lines
    )
    net_total = sum((line.net_amount for line in computed), Decimal("0.00"))
    vat_total = round_cents(net_total * vat.rate / 100)
    return Amounts(computed, vat, net_total, vat_total, net_total + vat_total)
