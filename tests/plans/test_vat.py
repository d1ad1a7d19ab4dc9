"""VAT matrix (FAQ: French VAT; EU businesses with a valid number exempt; none outside the EU)
and amounts to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from privacy_service.plans.vat import VatTreatment, compute_amounts, vat_for

D = Decimal


@pytest.mark.parametrize(
    ("country", "number", "treatment", "rate"),
    [
        ("FR", None, VatTreatment.FRENCH_VAT, D("20.00")),
        ("FR", "FR40303265045", VatTreatment.FRENCH_VAT, D("20.00")),
        ("DE", "DE136695976", VatTreatment.REVERSE_CHARGE, D("0")),
        ("DE", "DE136695977", VatTreatment.FRENCH_VAT, D("20.00")),  # wrong check digit
        ("DE", None, VatTreatment.FRENCH_VAT, D("20.00")),
        ("DE", "BE0403019261", VatTreatment.FRENCH_VAT, D("20.00")),  # another country's number
        ("BE", "BE0403019261", VatTreatment.REVERSE_CHARGE, D("0")),
        ("BE", "BE 0403.019.261", VatTreatment.REVERSE_CHARGE, D("0")),
        ("GR", "EL094259216", VatTreatment.REVERSE_CHARGE, D("0")),
        ("CH", "CHE-116.281.710", VatTreatment.OUTSIDE_EU, D("0")),
        ("US", None, VatTreatment.OUTSIDE_EU, D("0")),
        (None, None, VatTreatment.FRENCH_VAT, D("20.00")),
    ],
)
def test_vat_matrix(country, number, treatment, rate):
    decision = vat_for(country, number)
    assert decision.treatment == treatment
    assert decision.rate == rate


def test_a_reverse_charge_carries_its_mention_and_french_vat_none(app):
    assert "Reverse charge" in str(vat_for("DE", "DE136695976").mention)
    assert "259-1" in str(vat_for("US", None).mention)
    assert vat_for("FR", None).mention is None


def test_french_vat_on_a_plan_price():
    amounts = compute_amounts([("15k", D(1), D("15.00"))], vat_for("FR", None))
    assert (amounts.net_total, amounts.vat_total, amounts.gross_total) == (
        D("15.00"),
        D("3.00"),
        D("18.00"),
    )


def test_amounts_round_half_up_to_the_cent_and_add_up():
    lines = [
        ("pro rata", D("0.5123"), D("800.00")),  # 409.84
        ("extra IPs", D("3"), D("19.99")),  # 59.97
        ("half a cent", D("0.5"), D("0.25")),  # 0.125: 0.13 half-up (0.12 half-even)
    ]
    amounts = compute_amounts(lines, vat_for("FR", None))
    assert [line.net_amount for line in amounts.lines] == [D("409.84"), D("59.97"), D("0.13")]
    assert amounts.net_total == D("469.94") == sum(line.net_amount for line in amounts.lines)
    assert amounts.vat_total == D("93.99")  # 93.988
    assert amounts.gross_total == amounts.net_total + amounts.vat_total == D("563.93")


def test_reverse_charge_and_outside_eu_totals_have_no_vat():
    for decision in (vat_for("BE", "BE0403019261"), vat_for("US", None)):
        amounts = compute_amounts([("60k", D(1), D("45.00"))], decision)
        assert (amounts.vat_total, amounts.gross_total) == (D("0.00"), D("45.00"))
