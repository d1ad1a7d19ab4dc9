"""Policy versions (privacy policy §6): 30 days' notice, one email per account holder through
the outbox, the public page with the upcoming version and its diff, and the effective date."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.consent.cookies import CHOICE_COOKIE
from privacy_service.operator import jobs, policies
from privacy_service.operator.models import ConsentRenewal, PolicyVersion
from tests.factories import DEFAULT_PASSWORD, ConsentRecordFactory, DPOFactory, UserFactory
from tests.support.forms import login, submit_form
from tests.support.smtp import body_text

OLD_EN = "We keep your data in the EU.\nWe never sell it."
NEW_EN = "We keep your data in the EU.\nWe never sell it.\nWe now use a second data centre."


def _form(clock, days: float, **changes) -> dict:
    effective = clock.now() + timedelta(days=days)
    return {
        "kind": "privacy",
        "version": "2",
        "effective_at": effective.strftime("%Y-%m-%dT%H:%M"),
        "text_en": NEW_EN,
        "text_fr": "Nous gardons vos données dans l’UE.",
        **changes,
    }


def test_a_notice_shorter_than_30_days_is_refused_and_nothing_is_sent(client, db, clock, smtp):
    dpo = DPOFactory()
    login(client, dpo.email, DEFAULT_PASSWORD)
    answer = submit_form(client, "/dpo/policies", _form(clock, 29), page_url="/dpo/policies")
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "at least 30 days" in page and "We now use a second data centre." in page
    assert db.session.scalar(select(PolicyVersion)) is None
    assert smtp.messages == []


def test_a_valid_version_emails_each_account_holder_once(client, db, clock, smtp):
    dpo = DPOFactory()
    holders = [UserFactory(), UserFactory(locale="fr")]
    unconfirmed = UserFactory(email_confirmed_at=None)
    login(client, dpo.email, DEFAULT_PASSWORD)
    answer = submit_form(client, "/dpo/policies", _form(clock, 31), page_url="/dpo/policies")
    assert answer.status_code == 302

    everyone = [dpo, *holders]
    for user in everyone:
        smtp.wait_for(user.email)
    # The job runs again (every minute, on every instance): nobody hears twice.
    assert jobs.send_policy_notices() == 0
    clock.advance(days=1)
    assert jobs.send_policy_notices() == 0
    for user in everyone:
        assert len(smtp.messages_to(user.email)) == 1
    assert smtp.messages_to(unconfirmed.email) == []

    [english] = smtp.messages_to(holders[0].email)
    assert "privacy policy" in str(english["Subject"]).lower()
    assert "http://localhost/policies/privacy" in body_text(english)
    [french] = smtp.messages_to(holders[1].email)
    assert "politique de confidentialité" in str(french["Subject"])
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "policies.notices_queued")
    ).all()
    assert sum(event.details["count"] for event in events) == 3


def test_notices_go_in_batches(app, db, clock, smtp):
    users = [UserFactory() for _ in range(5)]
    policies.publish(
        kind="privacy",
        version="2",
        text_en=NEW_EN,
        text_fr="fr",
        effective_at=clock.now() + timedelta(days=40),
        actor="user:1",
        now=clock.now(),
    )
    assert policies.queue_notices(clock.now(), batch_size=2) == 2
    assert policies.queue_notices(clock.now(), batch_size=2) == 2
    assert policies.queue_notices(clock.now(), batch_size=2) == 1
    assert policies.queue_notices(clock.now(), batch_size=2) == 0
    db.session.commit()
    for user in users:
        smtp.wait_for(user.email)


def test_the_public_page_shows_the_current_and_upcoming_version_with_a_diff(app, db, clock):
    first = policies.publish(
        kind="privacy",
        version="2026-01",
        text_en=OLD_EN,
        text_fr="Ancien",
        effective_at=clock.now() + timedelta(days=30),
        actor="user:1",
        now=clock.now(),
    )
    clock.advance(days=31)
    policies.publish(
        kind="privacy",
        version="2026-02",
        text_en=NEW_EN,
        text_fr="Nouveau",
        effective_at=clock.now() + timedelta(days=45),
        actor="user:1",
        now=clock.now(),
    )
    db.session.commit()
    page = app.test_client().get("/policies/privacy").get_data(as_text=True)
    assert "Version in force: 2026-01" in page and first.text_en.splitlines()[1] in page
    upcoming = (clock.now() + timedelta(days=45)).strftime("%Y-%m-%d")
    assert f"Version 2026-02 takes effect on {upcoming}" in page
    assert "<ins>We now use a second data centre.</ins>" in page
    assert "<del>" not in page
    assert app.test_client().get("/policies/other").status_code == 404


def test_on_the_effective_date_older_consents_are_flagged_for_renewal(app, db, clock):
    old = ConsentRecordFactory(email="old@example.org", policy_version="1")
    withdrawn = ConsentRecordFactory(email="gone@example.org", granted=False)
    version = policies.publish(
        kind="privacy",
        version="2",
        text_en=NEW_EN,
        text_fr="fr",
        effective_at=clock.now() + timedelta(days=30),
        affects_consent=True,
        actor="user:1",
        now=clock.now(),
    )
    db.session.commit()
    assert jobs.activate_policy_versions() == 0  # not yet
    clock.advance(days=30, seconds=1)
    assert policies.current_version("privacy", clock.now()) == "2"
    assert jobs.activate_policy_versions() == 1
    assert jobs.activate_policy_versions() == 0  # once
    renewals = db.session.scalars(select(ConsentRenewal)).all()
    assert [r.record_id for r in renewals] == [old.id]
    assert withdrawn.id not in {r.record_id for r in renewals}
    assert renewals[0].previous_version == "1"
    db.session.refresh(version)
    assert version.renewals_flagged == 1
    # A consent given under the new version is not flagged.
    fresh = ConsentRecordFactory(email="new@example.org", policy_version="2")
    assert fresh.policy_version == "2"


def test_the_cookie_banner_asks_again_on_the_effective_date(page, db, clock):
    page.goto("/")
    page.click("#cookie-banner [data-cookie-choice=reject_all]")
    page.locator("#cookie-banner").wait_for(state="hidden")
    page.reload()
    assert not page.locator("#cookie-banner").is_visible()

    policies.publish(
        kind="cookies",
        version="2",
        text_en="Cookies, second edition.",
        text_fr="Cookies, deuxième édition.",
        effective_at=clock.now() + timedelta(days=30),
        affects_consent=True,
        actor="user:1",
        now=clock.now(),
    )
    db.session.commit()
    page.reload()
    assert not page.locator("#cookie-banner").is_visible()  # still the old version

    clock.advance(days=31)
    jobs.activate_policy_versions()
    page.reload()
    page.locator("#cookie-banner").wait_for(state="visible")
    page.click("#cookie-banner [data-cookie-choice=reject_all]")
    page.locator("#cookie-banner").wait_for(state="hidden")
    page.reload()
    assert not page.locator("#cookie-banner").is_visible()
    assert CHOICE_COOKIE in {cookie["name"] for cookie in page.context.cookies()}
