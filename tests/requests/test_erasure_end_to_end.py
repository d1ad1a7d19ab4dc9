"""Erasure across every feature, driven through the DPO dashboard: afterwards no table holds the
subject's address (in clear, or in any decrypted value) or its blind index, except the suppression
list, which keeps the address from ever coming back through an import, a manual addition or a
double opt-in form (issue 4, "Erasure")."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from privacy_service.accounts.models import User
from privacy_service.audit.models import AuditEvent
from privacy_service.consent.models import CookieChoice
from privacy_service.consent.service import erasure_tallies
from privacy_service.crypto import blind_index
from privacy_service.mail.imports import process_queued_imports
from privacy_service.mail.models import Contact, ImportReject, Suppression
from privacy_service.requests import jobs, service
from privacy_service.requests.fulfilment import erase_subject, export_directory
from privacy_service.requests.labels import KEPT_LABELS
from privacy_service.requests.models import (
    DataSubjectRequest,
    IdentityDocument,
    RequestMessage,
)
from privacy_service.subjects import Subject
from tests.factories import (
    DEFAULT_PASSWORD,
    ContactListFactory,
    DataSubjectRequestFactory,
    DPOFactory,
    UserFactory,
)
from tests.mail.helpers import csv_bytes, import_file
from tests.requests.seed import Person, customers, seed_person
from tests.support.database import holders
from tests.support.forms import login, submit_form
from tests.support.smtp import body_text

_TEXT_HASH = re.compile(r'name="text_hash" value="([0-9a-f]{64})"')


@pytest.fixture
def app_config():
    # The test runs the import worker itself, when it wants the rows judged.
    return {"IMPORT_WORKER_THREAD": False}


def _people(where, now) -> tuple[Person, Person]:
    subject = seed_person(
        where,
        now,
        email="eirlys.vanderquist@example.org",
        first_name="Eirlys",
        last_name="Vanderquist",
        city="Roubaix-Wattrelos",
        ip="198.51.100.99",
        user_agent="EirlysBrowser/3.1",
        visitor_id=secrets.token_hex(16),
    )
    bystander = seed_person(
        where,
        now,
        email="oswin.stayput@example.org",
        first_name="Oswin",
        last_name="Stayput",
        city="Tourcoing-Centre",
        ip="203.0.113.41",
        user_agent="OswinBrowser/7.2",
        visitor_id=secrets.token_hex(16),
    )
    return subject, bystander


def _erase_in_dashboard(dpo_client, request_id: int) -> None:
    page = f"/dpo/requests/{request_id}"
    review = submit_form(dpo_client, f"{page}/review", {}, page_url=page)
    assert review.status_code == 302
    done = submit_form(dpo_client, f"{page}/fulfil", {}, page_url=page)
    assert done.status_code == 302
    shown = dpo_client.get(done.location).get_data(as_text=True)
    assert "data was erased and the requester told what was kept" in shown


def _leftovers(person: Person) -> dict[str, list[str]]:
    """Where each identifying value of ``person`` is still stored (decrypted search)."""
    return {trace: places for trace, places in holders(person.traces).items() if places}


def test_erasure_leaves_only_the_suppression_entry_and_the_address_never_returns(
    app, client, smtp, db, clock
):
    where = customers()
    subject, bystander = _people(where, clock.now() - timedelta(days=1))
    shop_member = UserFactory(email="owner@shop.example", organisation=where.shop)
    DPOFactory(email="dpo@example.org")
    shop_client = app.test_client()
    login(shop_client, shop_member.email, DEFAULT_PASSWORD)

    # Shop A also imported the subject by CSV (the repeated row is refused and kept as a reject).
    imports_list = ContactListFactory(organisation_id=where.shop.id, name="Shop A imports").id
    rows = [
        ["email", "name", "city"],
        [subject.email, "Eirlys Vanderquist", subject.city],
        [subject.email.upper(), "Eirlys V.", subject.city],
        [bystander.email, "Oswin Stayput", bystander.city],
    ]
    import_file(shop_client, imports_list, csv_bytes(rows), ["email", "name", "attribute"])
    assert [outcome.state for outcome in process_queued_imports(clock.now)] == ["done"]

    # An earlier access request left an export file, never downloaded.
    earlier_access = DataSubjectRequestFactory(
        email=subject.email, kind="access", status="in_review", received_at=clock.now()
    )
    dpo = db.session.scalar(select(User).where(User.role == "dpo"))
    service.queue_fulfilment(earlier_access, dpo, clock.now())
    db.session.commit()
    assert jobs.process_fulfilments() == 1
    assert len(list(export_directory().glob("*.sealed"))) == 1

    # The erasure request, in French, with a proof of identity naming the subject.
    erasure = DataSubjectRequestFactory(
        email=subject.email,
        kind="erasure",
        status="verified",
        locale="fr",
        details="Effacez tout, Eirlys Vanderquist",
        received_at=clock.now(),
    )
    erasure.document = IdentityDocument(
        media_type="application/pdf",
        size_bytes=64,
        uploaded_at=clock.now(),
        content=b"%PDF-1.4 identity card of Eirlys Vanderquist, Roubaix-Wattrelos %%EOF",
    )
    db.session.commit()

    # Before: the search sees the subject everywhere, through the encryption.
    before = holders(subject.traces)
    assert {
        "user_account.email",
        "consent_record.email",
        "contact.email",
        "data_subject_request.email",
        "message_event.detail",
        "import_reject.row_values",
    } <= set(before[subject.email])
    assert {
        "user_account.email_index",
        "consent_record.email_index",
        "consent_state.email_index",
        "contact.email_index",
        "message_event.email_index",
        "data_subject_request.email_index",
        "import_reject.email_index",
    } <= set(before[subject.email_index])
    assert "request_identity_document.content" in before[subject.last_name]
    assert "cookie_choice.visitor_id" in before[subject.visitor_id]
    assert "contact.attributes" in before[subject.city]
    assert "list_membership.consent_ip" in before[subject.ip]
    bystander_before = _leftovers(bystander)

    dpo_client = app.test_client()
    login(dpo_client, "dpo@example.org", DEFAULT_PASSWORD)
    _erase_in_dashboard(dpo_client, erasure.id)
    db.session.expire_all()

    # After: only the suppression list knows the blind index; nothing else remains anywhere.
    assert _leftovers(subject) == {subject.email_index: ["suppression.email_index"]}
    assert [(s.reason, s.organisation_id) for s in db.session.scalars(select(Suppression))] == [
        ("erasure", None)
    ]
    assert list(export_directory().glob("*")) == []  # the earlier export file went too
    assert db.session.scalar(select(func.count()).select_from(RequestMessage)) == 0  # all sent
    # The other person is untouched.
    assert _leftovers(bystander) == bystander_before
    assert db.session.scalar(select(func.count()).select_from(CookieChoice)) == 2
    # Consent is kept only as anonymous counts (proof that it was handled).
    assert sorted(
        (code, org is None, granted, n) for code, org, granted, n in erasure_tallies()
    ) == [
        ("analytics_cookies", True, True, 1),
        ("behavioural_tracking", False, True, 1),
        # One truth (issue 14): her list subscriptions are consent records of the club (double
        # opt-in) and of the shop (seeded, added by hand, imported by CSV above).
        ("marketing_email", False, True, 1),
        ("marketing_email", False, True, 3),
        ("marketing_email", True, False, 1),
        ("marketing_email", True, True, 1),
    ]
    erased = db.session.scalar(
        select(AuditEvent.details).where(AuditEvent.action == "requests.subject_erased")
    )
    assert erased["sections"]["consent"]["removed"] == {"consent_records": 8, "cookie_choices": 2}
    assert erased["sections"]["contact_lists"]["removed"] == {
        "contacts": 2,
        "list_memberships": 4,
        "rejected_import_rows": 1,
    }
    assert erased["sections"]["message_events"]["removed"] == {"message_events": 4}
    assert erased["sections"]["requests"]["anonymised"] == {"requests": 3}

    # The answer, in the requester's language, says what was erased, what was kept and why.
    answer = next(
        m
        for m in smtp.wait_for(to=subject.email)
        if m["Subject"] == f"Votre demande n° {erasure.id} relative à vos données : vos données "
        "ont été effacées"
    )
    text = body_text(answer)
    assert "Compte et profil : 1 supprimé(s), 0 anonymisé(s)" in text
    assert "Consentements enregistrés et choix en matière de cookies : 10 supprimé(s)" in text
    assert "Inscriptions aux listes et champs de contact : 7 supprimé(s)" in text
    assert "Événements d’envoi et de suivi : 4 supprimé(s)" in text
    assert "Vos demandes relatives à vos données : 0 supprimé(s), 3 anonymisé(s)" in text
    assert "Nous ne gardons que ce qui suit, et pourquoi :" in text
    # Computed from what exists: the service issues no invoices, so none is claimed.
    assert "facture" not in text
    assert "le décompte anonyme des consentements effacés" in text
    assert "la trace des demandes, sans donnée personnelle" in text

    # Erasing twice is harmless: a second request goes through, finds nothing more to remove.
    again = DataSubjectRequestFactory(
        email=subject.email, kind="erasure", status="verified", received_at=clock.now()
    )
    _erase_in_dashboard(dpo_client, again.id)
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, again.id).status == "fulfilled"
    second = body_text(
        next(
            m
            for m in smtp.wait_for(to=subject.email)
            if m["Subject"] == f"Your privacy request #{again.id}: your data was erased"
        )
    )
    assert "Account and profile: 0 removed, 0 anonymised" in second
    assert "Consent records and cookie choices: 0 removed" in second
    assert "Your privacy requests: 0 removed, 1 anonymised" in second
    assert _leftovers(subject) == {subject.email_index: ["suppression.email_index"]}
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1

    # The address never comes back. A CSV import refuses its row as suppressed ...
    reimport = [["email", "name"], [subject.email, "Eirlys"], ["newcomer@example.org", "New"]]
    job_id = import_file(shop_client, where.shop_news.id, csv_bytes(reimport), ["email", "name"])
    assert [outcome.state for outcome in process_queued_imports(clock.now)] == ["done"]
    reject = db.session.scalar(select(ImportReject).where(ImportReject.job_id == job_id))
    assert (reject.row_number, reject.reason) == (2, "suppressed")
    # The refused row keeps its number and reason, not the address (nor its blind index).
    assert _leftovers(subject) == {subject.email_index: ["suppression.email_index"]}
    page = shop_client.get(f"/lists/{where.shop_news.id}/imports/{job_id}").get_data(as_text=True)
    assert "The address is on the suppression list" in page
    assert db.session.scalar(
        select(Contact.id).where(Contact.email_index == blind_index("newcomer@example.org"))
    )
    # ... adding it by hand is refused ...
    list_page = f"/lists/{where.shop_offers.id}"
    manual = submit_form(
        shop_client,
        f"{list_page}/contacts",
        {
            "email": subject.email,
            "status": "subscribed",
            "consent_source": "phone call",
            "consent_date": "2024-02-01",
        },
        page_url=list_page,
    )
    assert manual.status_code == 422
    assert "This address is on the suppression list." in manual.get_data(as_text=True)
    # ... and the double opt-in form answers as usual but sends and subscribes nothing.
    for email in (subject.email, "fresh@example.org"):
        response = _subscribe(client, where.club_news.form_key, email)
        assert response.headers["Location"] == f"/subscribe/{where.club_news.form_key}/sent"
    smtp.wait_for(to="fresh@example.org")
    assert not [m for m in smtp.messages_to(subject.email) if "subscription" in m["Subject"]]
    assert (
        db.session.scalar(select(func.count()).where(Contact.email_index == subject.email_index))
        == 0
    )


def _subscribe(client, form_key: str, email: str):
    url = f"/subscribe/{form_key}"
    shown = _TEXT_HASH.search(client.get(url).get_data(as_text=True)).group(1)
    return submit_form(client, url, {"email": email, "text_hash": shown})


def test_the_account_cookie_choices_are_counted_by_consent_before_the_account_goes(db, clock):
    # Erasure runs the providers in reverse registration order, so consent erases the cookie
    # choices of the account (and says how many) before the account's removal would cascade.
    where = customers()
    subject, bystander = _people(where, clock.now())

    outcomes = {
        outcome.section: outcome
        for outcome in erase_subject(
            Subject(subject.email, subject.email_index), clock.now(), "test"
        )
    }
    db.session.commit()

    assert outcomes["consent"].removed == {"consent_records": 7, "cookie_choices": 2}
    assert outcomes["account"].removed == {"accounts": 1}
    remaining = db.session.scalars(select(CookieChoice.id).order_by(CookieChoice.id)).all()
    assert remaining == bystander.cookie_choice_ids
    # Every text a provider keeps reads in both languages in the answer to the requester.
    kept = {reason for outcome in outcomes.values() for reason in outcome.kept}
    assert kept == set(KEPT_LABELS)
    for reason in kept:
        with force_locale("fr"):
            assert str(KEPT_LABELS[reason]) != reason
