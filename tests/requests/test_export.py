"""The export builder streams every provider into a sealed ZIP (requests/export.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from privacy_service.crypto import blind_index
from privacy_service.requests.export import EXPORT_CONTEXT, build_export
from privacy_service.requests.sealed_files import read_sealed
from privacy_service.subjects import Subject
from tests.requests.conftest import unzip


class ManyEvents:
    """A provider with many records, non-ASCII text and types json does not know."""

    section = "message_events"

    def __init__(self, count: int) -> None:
        self.count = count

    def export(self, subject):
        for number in range(self.count):
            yield {
                "event": "open",
                "at": datetime(2026, 1, 1, tzinfo=UTC),
                "campaign": f"Été n°{number} — <b>soldes</b> & co",
                "cost": Decimal("0.10"),
                "tags": {"a"},
            }

    def erase(self, subject, now):  # pragma: no cover - not used here
        raise AssertionError


class Empty:
    section = "consent"

    def export(self, subject):
        return iter(())

    def erase(self, subject, now):  # pragma: no cover - not used here
        raise AssertionError


def test_large_export_is_complete_valid_and_escaped(app, tmp_path, clock):
    subject = Subject("big@example.org", blind_index("big@example.org"))
    destination = tmp_path / "export.sealed"
    result = build_export(
        subject,
        destination,
        request_info={"id": 7, "kind": "access"},
        now=clock.now(),
        section_providers=[ManyEvents(20_000), Empty()],
    )
    assert result.record_counts == {"message_events": 20_000, "consent": 0}
    with destination.open("rb") as handle:
        content = b"".join(read_sealed(handle, EXPORT_CONTEXT))
    assert len(content) == result.zip_bytes
    data, report = unzip(content)
    events = data["sections"]["message_events"]
    assert events["record_count"] == 20_000 and len(events["records"]) == 20_000
    assert events["records"][-1] == {
        "event": "open",
        "at": "2026-01-01T00:00:00+00:00",
        "campaign": "Été n°19999 — <b>soldes</b> & co",
        "cost": "0.10",
        "tags": ["a"],
    }
    assert data["sections"]["consent"] == {"records": [], "record_count": 0}
    assert data["request"] == {"id": 7, "kind": "access"}
    # The report spans many sealed segments; every record survives, escaped.
    assert report.count('<div class="record">') == 20_000
    assert "Été n°19999 — &lt;b&gt;soldes&lt;/b&gt; &amp; co" in report
    assert "<b>soldes</b>" not in report
    assert "Sending and tracking events" in report
    assert "Consent records and cookie choices" in report
    assert "No record." in report and "Aucun enregistrement." not in report
    # Known fields in words, dates for people; unknown names (a customer's own) as written.
    assert "<th>When<td>1 Jan 2026, 00:00 UTC" in report and "<th>event<td>open" in report
    json.dumps(data)  # plain JSON all the way down


def test_report_is_written_in_the_requester_s_language(app, tmp_path, clock):
    class Memberships:
        section = "contact_lists"

        def export(self, subject):
            yield {
                "record": "contact",
                "lists": [
                    {
                        "list_name": "Nouveautés",
                        "consent_text_sha256": "ab" * 32,
                        "consent_date": "2024-03-05",
                        "confirmed_at": "2024-03-05T09:15:00+00:00",
                    }
                ],
                "attributes": {"ville": "Lyon"},
            }

        def erase(self, subject, now):  # pragma: no cover - not used here
            raise AssertionError

    destination = tmp_path / "fr.sealed"
    build_export(
        Subject("ada@example.org", blind_index("ada@example.org")),
        destination,
        request_info={"id": 3, "kind": "access", "received_at": "2026-02-01T08:00:00+00:00"},
        now=datetime(2026, 2, 3, 10, 0, tzinfo=UTC),
        section_providers=[Memberships(), Empty()],
        language="fr",
    )
    with destination.open("rb") as handle:
        data, report = unzip(b"".join(read_sealed(handle, EXPORT_CONTEXT)))
    assert '<html lang="fr">' in report
    assert "Vos données personnelles" in report and "Your personal data" not in report
    assert "droit d’accès" in report and "Aucun enregistrement." in report
    assert "Votre demande du 1 févr. 2026, 08:00 UTC" in report
    assert "<th>Date de votre consentement<td>5 mars 2024" in report
    assert "<th>Confirmé<td>5 mars 2024, 09:15 UTC" in report
    assert "<th>ville<td>Lyon" in report  # the customer's own field name, as written
    for machine_name in ("consent_text_sha256", "list_name", "consent_date", "confirmed_at"):
        assert machine_name not in report
    # data.json keeps the machine names and values, whatever the report's language.
    membership = data["sections"]["contact_lists"]["records"][0]["lists"][0]
    assert membership["consent_text_sha256"] == "ab" * 32
    assert membership["confirmed_at"] == "2024-03-05T09:15:00+00:00"


def test_report_tables_escape_keys_and_values_of_any_shape(app):
    from privacy_service.requests.export import html_renderer

    render = html_renderer()
    odd = {"100%": "a%s", "%s": 1, "<k>": "<v> & co", "ok": True, "none": None, "n": {}}
    # Cells and rows close implicitly (optional end tags, HTML standard §13.1.2.4).
    expected = (
        "<table><tr><th>100%<td>a%s<tr><th>%s<td>1<tr><th>&lt;k&gt;<td>&lt;v&gt; &amp; co"
        "<tr><th>ok<td>&#10003;<tr><th>none<td>&#8212;<tr><th>n<td>&#8212;</table>"
    )
    assert render(odd) == expected
    assert render(dict(odd)) == expected  # the shape's template, reused
    # Keys equal to a dict but printed differently never share a template.
    assert render({1: "x"}) == "<table><tr><th>1<td>x</table>"
    assert render({True: "x"}) == "<table><tr><th>True<td>x</table>"
    wide = {f"k{number}": number if number % 2 else f"<{number}>" for number in range(40)}
    rows = "".join(
        f"<tr><th>k{number}<td>{number if number % 2 else f'&lt;{number}&gt;'}"
        for number in range(40)
    )
    assert render(wide) == f"<table>{rows}</table>"
    assert render([{"a": [1, None]}, set()]) == (
        "<ol><li><table><tr><th>a<td><ol><li>1</li><li>&#8212;</li></ol></table></li>"
        "<li>&#8212;</li></ol>"
    )


def test_a_failing_provider_leaves_no_file(app, tmp_path, clock):
    class Broken:
        section = "broken"

        def export(self, subject):
            yield {"fine": 1}
            raise RuntimeError("store unavailable")

    destination = tmp_path / "export.sealed"
    subject = Subject("x@example.org", blind_index("x@example.org"))
    with pytest.raises(RuntimeError, match="store unavailable"):
        build_export(
            subject, destination, request_info={}, now=clock.now(), section_providers=[Broken()]
        )
    assert not destination.exists()
    assert list(tmp_path.iterdir()) == []
