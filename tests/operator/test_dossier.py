"""The subject dossier (GDPR art. 5(2)): one subject's facts and nothing of another's, DPO only,
audited, exported as a PDF signed by the service that ``privacy-service evidence verify``
accepts, and rejects after one changed byte."""

from __future__ import annotations

import pytest
from flask import render_template
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.cli import main
from privacy_service.crypto import blind_index
from privacy_service.operator import dossier
from privacy_service.operator.signed_pdf import verify_pdf
from privacy_service.service_signature import public_key_bytes
from tests.factories import (
    DEFAULT_PASSWORD,
    ConsentRecordFactory,
    DataSubjectRequestFactory,
    DPOFactory,
    ListMembershipFactory,
    UserFactory,
)
from tests.support.forms import login, submit_form

ADA, BOB = "ada@example.org", "bob@example.org"


@pytest.fixture
def seeded(db):
    ConsentRecordFactory(email=ADA, text="Yes, send me the Ada newsletter.")
    ConsentRecordFactory(
        email=BOB, text="Yes, send me the Bob newsletter.", ip_address="198.51.100.7"
    )
    ada_list = ListMembershipFactory(
        contact__email=ADA, contact_list__name="Ada's cheese club", consent_source="Ada form"
    )
    ListMembershipFactory(contact__email=BOB, contact_list__name="Bob's wine club")
    request = DataSubjectRequestFactory(email=ADA, email_index=blind_index(ADA))
    DataSubjectRequestFactory(email=BOB, email_index=blind_index(BOB))
    db.session.commit()
    return {"list": ada_list, "request": request}


def _show(client, email: str):
    return submit_form(client, "/dpo/dossier", {"email": email})


def test_the_dossier_shows_one_subjects_facts_and_nothing_of_another(client, db, seeded):
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    page = _show(client, ADA)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Subject: ada@example.org" in text
    assert "Yes, send me the Ada newsletter." in text  # the exact text shown
    assert "192.0.2.10" in text  # its evidence
    assert "Ada&#39;s cheese club" in text and "Ada form" in text
    assert f"<td>{seeded['request'].id}</td>" in text
    for foreign in ("bob@example.org", "Bob newsletter", "198.51.100.7", "Bob&#39;s wine club"):
        assert foreign not in text

    [viewed] = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "dossier.viewed")
    ).all()
    assert viewed.actor == dpo.audit_ref
    assert viewed.target == dossier.subject_ref(blind_index(ADA))
    assert ADA not in str(viewed.details)
    # The next view lists the previous one as a staff access.
    again = _show(client, ADA).get_data(as_text=True)
    assert "dossier.viewed" in again and f"<td>{viewed.sequence}</td>" in again


def test_a_non_dpo_gets_403_and_the_address_never_travels_in_the_url(app, db, seeded):
    member, outsider = UserFactory(role="org_admin"), app.test_client()
    login(outsider, member.email, DEFAULT_PASSWORD)
    assert outsider.get("/dpo/dossier").status_code == 403
    assert outsider.post("/dpo/dossier/pdf", data={"email": ADA}).status_code in (400, 403)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action.like("dossier.%"))) is None


def test_a_bad_address_is_refused_with_the_form_kept(client, db):
    login(client, DPOFactory().email, DEFAULT_PASSWORD)
    answer = _show(client, "not an address")
    assert answer.status_code == 422
    assert 'value="not an address"' in answer.get_data(as_text=True)


def test_the_signed_pdf_verifies_and_fails_after_one_changed_byte(
    app, client, db, seeded, tmp_path
):
    login(client, DPOFactory().email, DEFAULT_PASSWORD)
    answer = submit_form(client, "/dpo/dossier/pdf", {"email": ADA}, page_url="/dpo/dossier")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert "attachment" in answer.headers["Content-Disposition"]
    document = answer.get_data()
    assert document.startswith(b"%PDF")
    assert verify_pdf(document, public_key_bytes()).valid

    # What the PDF is made of: the same dossier, one subject only.
    with app.test_request_context():
        html = render_template(
            "operator/dossier_pdf.html",
            dossier=dossier.build(ADA, seeded["request"].received_at),
            key_id="k",
        )
    assert "ada@example.org" in html and "bob@example.org" not in html

    signed = tmp_path / "dossier.pdf"
    signed.write_bytes(document)
    ok = app.test_cli_runner().invoke(main, ["evidence", "verify", str(signed)])
    assert ok.exit_code == 0, ok.output
    assert "VERIFIED" in ok.output

    # Anywhere: text, the middle, the end, and the signature field's zero padding.
    contents = document.index(b"/Contents <")
    padding = document.index(b">", contents) - 5
    for position in (len(document) // 3, len(document) // 2, len(document) - 40, padding):
        changed = bytearray(document)
        changed[position] = (changed[position] + 1) % 256
        tampered = tmp_path / f"tampered-{position}.pdf"
        tampered.write_bytes(bytes(changed))
        result = app.test_cli_runner().invoke(main, ["evidence", "verify", str(tampered)])
        assert result.exit_code == 1, (position, result.output)
        assert "NOT VERIFIED" in result.output

    exported = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "dossier.exported"))
    assert exported is not None


def test_a_pdf_signed_by_another_key_is_refused(app, db, seeded):
    from privacy_service.operator import evidence_export

    document = evidence_export.signed_dossier_pdf(dossier.build(ADA, seeded["request"].received_at))
    other_key = bytes(32)
    assert not verify_pdf(document, other_key).valid


def test_signing_works_inside_a_running_event_loop(app, db, clock):
    """pyHanko starts its own event loop; an async caller (or Playwright) must not break it."""
    import asyncio

    from privacy_service.operator import evidence_export

    async def inside() -> bool:
        with app.app_context(), app.test_request_context():
            document = evidence_export.signed_dossier_pdf(dossier.build(ADA, clock.now()))
            return verify_pdf(document, public_key_bytes()).valid

    # The test's own loop gets a thread of its own: Playwright may hold this one's.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, inside()).result()
