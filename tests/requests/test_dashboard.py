"""The DPO dashboard: who may see it, what the queue hides, audited openings and document views,
staff actions and the charts (requests/dpo.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from privacy_service.audit.models import AuditEvent
from privacy_service.requests.models import DataSubjectRequest, IdentityDocument, RequestNote
from tests.factories import DEFAULT_PASSWORD, DataSubjectRequestFactory, DPOFactory, UserFactory
from tests.requests.conftest import PDF, PNG
from tests.support.forms import csrf_token, login, submit_form
from tests.support.smtp import body_text


def _dashboard_routes(app, request_id):
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/dpo/requests"):
            continue
        path = rule.rule.replace("<int:request_id>", str(request_id))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path))
    return routes


def test_members_get_403_and_anonymous_users_the_login_page_on_every_dashboard_route(app, db):
    request = DataSubjectRequestFactory()
    routes = _dashboard_routes(app, request.id)
    assert len(routes) >= 11  # queue, page, document, and every action

    anonymous = app.test_client()
    token = csrf_token(anonymous, "/login")
    for method, path in routes:
        response = anonymous.open(path, method=method, data={"csrf_token": token})
        assert response.status_code == 302, (method, path)
        assert "/login" in response.location, (method, path)

    for role in ("member", "org_admin"):
        UserFactory(email=f"{role}@example.org", role=role)
        member = app.test_client()
        login(member, f"{role}@example.org", DEFAULT_PASSWORD)
        token = csrf_token(member, "/profile")
        for method, path in routes:
            response = member.open(path, method=method, data={"csrf_token": token})
            assert response.status_code == 403, (role, method, path)
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, request.id).status == "verified"
    assert not db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "requests.request_opened")
    ).all()


def _as_dpo(client):
    staff = DPOFactory(email="dpo@example.org", first_name="Dana", last_name="Protect")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    return staff


def test_queue_shows_no_requester_until_opened_and_each_opening_is_audited(client, db, clock):
    UserFactory(email="hidden.person@example.org", first_name="Zéphyrine", last_name="Secret")
    request = DataSubjectRequestFactory(
        email="hidden.person@example.org",
        reply_to="hidden.reply@example.org",
        details="Please send everything",
        received_at=clock.now(),
    )
    staff = _as_dpo(client)

    queue = client.get("/dpo/requests/").get_data(as_text=True)
    assert f"#{request.id}" in queue
    for personal in ("hidden.person", "hidden.reply", "Zéphyrine", "Secret", "send everything"):
        assert personal not in queue
    assert db.session.scalars(select(AuditEvent.action)).all().count("requests.request_opened") == 0

    page = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert "hidden.person@example.org" in page and "hidden.reply@example.org" in page
    assert "Zéphyrine" in page and "Please send everything" in page
    assert "differs from the subject" in page
    assert re.search(r'id="due-date">\s*\w+ \d+, \d{4}|id="due-date">\s*\d+ \w+ \d{4}', page)
    client.get(f"/dpo/requests/{request.id}")
    openings = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "requests.request_opened")
    ).all()
    assert [(e.actor, e.target) for e in openings] == [(staff.audit_ref, request.audit_ref)] * 2


@pytest.mark.parametrize(
    ("content", "media_type", "disposition"),
    [(PDF, "application/pdf", "attachment"), (PNG, "image/png", "inline")],
)
def test_identity_document_is_served_with_safe_headers_and_each_view_audited(
    client, db, clock, content, media_type, disposition
):
    request = DataSubjectRequestFactory(status="awaiting_verification")
    request.document = IdentityDocument(
        media_type=media_type, size_bytes=len(content), uploaded_at=clock.now(), content=content
    )
    db.session.commit()
    staff = _as_dpo(client)
    assert 'id="view-document"' in client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)

    for _ in range(2):
        response = client.get(f"/dpo/requests/{request.id}/document")
        assert response.status_code == 200
        assert response.data == content
        assert response.headers["Content-Type"] == media_type
        assert response.headers["Content-Disposition"].startswith(disposition + ";")
        assert f"identity-document-request-{request.id}." in response.headers["Content-Disposition"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"].startswith("no-store")
    views = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "requests.identity_document_viewed")
    ).all()
    assert [(v.actor, v.target) for v in views] == [(staff.audit_ref, request.audit_ref)] * 2
    timeline = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert timeline.count("Identity document viewed") == 2


def test_no_document_is_404(client, db):
    request = DataSubjectRequestFactory()
    _as_dpo(client)
    assert client.get(f"/dpo/requests/{request.id}/document").status_code == 404
    assert client.get("/dpo/requests/9999").status_code == 404


def _post(client, request_id, action, data=None):
    return submit_form(
        client,
        f"/dpo/requests/{request_id}/{action}",
        data or {},
        page_url=f"/dpo/requests/{request_id}",
    )


def test_staff_walk_a_request_through_its_statuses_and_the_requester_hears_each_step(
    client, smtp, db, clock
):
    request = DataSubjectRequestFactory(
        status="awaiting_verification",
        address_confirmed_at=None,
        email="asker@example.org",
        locale="fr",
        received_at=clock.now(),
    )
    request.document = IdentityDocument(
        media_type="application/pdf", size_bytes=len(PDF), uploaded_at=clock.now(), content=PDF
    )
    db.session.commit()
    staff = _as_dpo(client)

    # A move the machine does not allow is refused.
    refused = _post(client, request.id, "review")
    assert refused.status_code == 409
    assert "cannot become" in refused.get_data(as_text=True)

    assert _post(client, request.id, "verify", {"reason": "ID card checked"}).status_code == 302
    assert _post(client, request.id, "review").status_code == 302
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "in_review"
    assert request.assignee_id == staff.id  # whoever starts the review takes it

    no_reason = _post(client, request.id, "reject", {"reason": ""})
    assert no_reason.status_code == 422
    assert "A rejection needs a reason." in no_reason.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, request.id).status == "in_review"

    reason = "We hold no data about this address beyond this request."
    assert _post(client, request.id, "reject", {"reason": reason}).status_code == 302
    db.session.expire_all()
    request = db.session.get(DataSubjectRequest, request.id)
    assert request.status == "rejected" and request.closed_at == clock.now()
    assert db.session.scalar(select(IdentityDocument)) is None  # deleted on closing

    subjects = [m["Subject"] for m in smtp.wait_for(to="asker@example.org", count=3)]
    assert subjects == [
        f"Votre demande n° {request.id} relative à vos données est enregistrée",
        f"Votre demande n° {request.id} relative à vos données est en cours d’examen",
        f"Votre demande n° {request.id} relative à vos données a été refusée",
    ]
    assert reason in body_text(smtp.messages_to("asker@example.org")[-1])
    changes = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "requests.status_changed")
    ).all()
    assert [(c["from"], c["to"]) for c in changes] == [
        ("awaiting_verification", "verified"),
        ("verified", "in_review"),
        ("in_review", "rejected"),
    ]
    assert reason not in str(changes)
    page = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert "ID card checked" in page and reason in page
    assert 'id="reject-form"' not in page  # closed: no more actions


def test_notes_and_assignment(client, db, clock):
    request = DataSubjectRequestFactory()
    staff = _as_dpo(client)
    colleague = DPOFactory(email="colleague@example.org", first_name="Colin")
    member = UserFactory(email="member@example.org")

    assert _post(client, request.id, "notes", {"body": ""}).status_code == 422
    assert _post(client, request.id, "notes", {"body": "Called the requester"}).status_code == 302
    note = db.session.scalar(select(RequestNote))
    assert note.body == "Called the requester" and note.author_id == staff.id
    audited = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "requests.note_added")
    )
    assert "Called" not in str(audited.details)

    refused = _post(client, request.id, "assign", {"assignee": str(member.id)})
    assert refused.status_code == 422
    assert "Choose a member of the DPO staff." in refused.get_data(as_text=True)
    assert _post(client, request.id, "assign", {"assignee": str(colleague.id)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(DataSubjectRequest, request.id).assignee_id == colleague.id
    queue = client.get("/dpo/requests/").get_data(as_text=True)
    assert colleague.display_name in queue
    page = client.get(f"/dpo/requests/{request.id}").get_data(as_text=True)
    assert "Called the requester" in page and "Assignment changed" in page


def test_queue_filters_by_kind_and_status(client, db, clock):
    access = DataSubjectRequestFactory(kind="access")
    erasure = DataSubjectRequestFactory(kind="erasure")
    closed = DataSubjectRequestFactory(kind="erasure", status="fulfilled")
    _as_dpo(client)

    def ids(query):
        page = client.get("/dpo/requests/" + query).get_data(as_text=True)
        return {int(x) for x in re.findall(r'data-request-id="(\d+)"', page)}

    assert ids("") == {access.id, erasure.id}
    assert ids("?kind=erasure") == {erasure.id}
    assert ids("?kind=erasure&status=all") == {erasure.id, closed.id}
    assert ids("?status=fulfilled") == {closed.id}
    assert client.get("/dpo/requests/?status=lost").status_code == 422


def test_charts_show_weekly_counts_and_time_to_fulfil_against_the_30_day_line(client, db, clock):
    now = clock.now()
    DataSubjectRequestFactory(
        status="fulfilled",
        received_at=now - timedelta(days=40),
        closed_at=now - timedelta(days=1),
    )
    DataSubjectRequestFactory(
        status="fulfilled", received_at=now - timedelta(days=12), closed_at=now - timedelta(days=2)
    )
    DataSubjectRequestFactory(received_at=now)
    _as_dpo(client)
    page = client.get("/dpo/requests/").get_data(as_text=True)
    assert page.count("<svg") == 2
    assert 'id="deadline-line"' in page
    assert page.count('class="bar-late"') == 1
    assert page.count('class="bar-on-time"') == 1
    assert "39.0 days" in page  # the late one, in its bar's title
    assert "style=" not in page and "<script>" not in page  # CSP: no inline style or script
