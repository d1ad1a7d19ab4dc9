"""The requester's status page and the plain-words pages of used or expired links
(requests/status_page.py, requests/views.py)."""

from __future__ import annotations

from sqlalchemy import select

from privacy_service.requests.models import DataSubjectRequest
from tests.factories import DEFAULT_PASSWORD, DataSubjectRequestFactory, DPOFactory
from tests.requests.conftest import link_in, path_of
from tests.support.forms import login, submit_form
from tests.support.smtp import links_in


def _file(client, email="ada@example.org", kind="access"):
    data = {"kind": kind, "email": email}
    return submit_form(client, "/requests/new", data, content_type="multipart/form-data")


def _status_links(smtp, to: str, count: int) -> set[str]:
    return {
        path_of(link)
        for message in smtp.wait_for(to=to, count=count)
        for link in links_in(message)
        if "/requests/status/" in link
    }


def test_every_request_email_links_to_one_status_page(client, smtp, db, clock, memory_provider):
    _file(client)
    submit_form(client, link_in(smtp, "ada@example.org", "/requests/confirm/"), {})
    request = db.session.scalar(select(DataSubjectRequest))
    # Confirmation asked, then confirmed: both emails carry the same status link.
    [status_link] = _status_links(smtp, "ada@example.org", 2)

    page = client.get(status_link).get_data(as_text=True)
    assert f"Your request #{request.id}" in page
    assert 'id="request-status">Verified<' in page
    assert "waiting for our privacy team" in page
    assert request.due_at.strftime("%B") in page and str(request.due_at.year) in page
    # The timeline says what happened, in the requester's words, and nothing of staff work.
    timeline = page[page.index('id="timeline"') :]
    steps = ["<strong>Received</strong>", "<strong>Awaiting verification</strong>"]
    steps.append("<strong>Verified</strong>")
    assert [timeline.index(step) for step in steps] == sorted(timeline.index(s) for s in steps)

    DPOFactory(email="dpo@example.org")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    path = f"/dpo/requests/{request.id}"
    submit_form(client, f"{path}/review", {}, page_url=path)
    submit_form(client, f"{path}/fulfil", {}, page_url=path)

    fulfilled = client.get(status_link).get_data(as_text=True)
    assert 'id="request-status">Fulfilled<' in fulfilled
    download = link_in(smtp, "ada@example.org", "/requests/export/", count=4)
    assert f'href="http://localhost{download}"' in fulfilled, "the page offers the download"
    assert status_link in _status_links(smtp, "ada@example.org", 4)

    # Downloaded: the page says so, and the used link explains itself.
    submit_form(client, download, {})
    after = client.get(status_link).get_data(as_text=True)
    assert "downloaded or has expired" in after and download not in after
    used = client.get(download)
    assert used.status_code == 400
    body = used.get_data(as_text=True)
    assert "You already downloaded this file" in body and "works only once" in body
    assert status_link in body, "the way forward is the request's own page"


def test_a_reused_confirmation_link_leads_to_the_status_page(client, smtp, db):
    _file(client)
    link = link_in(smtp, "ada@example.org", "/requests/confirm/")
    submit_form(client, link, {})
    for again in (client.get(link), submit_form(client, link, {}, page_url="/requests/new")):
        assert again.status_code == 302 and "/requests/status/" in again.location
    page = client.get(again.location).get_data(as_text=True)
    assert "This request is already confirmed: here is where it stands." in page


def test_an_expired_confirmation_link_says_what_happened_and_what_to_do(client, smtp, clock):
    _file(client)
    link = link_in(smtp, "ada@example.org", "/requests/confirm/")
    clock.advance(hours=169)
    response = client.get(link)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<h1>This link has expired</h1>" in body
    assert "must be confirmed within 168 hours" in body and "nothing was done" in body
    assert 'href="/requests/new"' in body and "Make a new request" in body


def test_an_expired_download_link_offers_the_status_page(client, smtp, db, clock):
    request = DataSubjectRequestFactory(status="in_review", received_at=clock.now())
    DPOFactory(email="dpo@example.org")
    login(client, "dpo@example.org", DEFAULT_PASSWORD)
    path = f"/dpo/requests/{request.id}"
    submit_form(client, f"{path}/fulfil", {}, page_url=path)
    download = link_in(smtp, request.email, "/requests/export/")
    clock.advance(days=7, seconds=1)
    body = client.get(download).get_data(as_text=True)
    assert "<h1>This link has expired</h1>" in body
    assert "Download links work for 7 days" in body and "new access request" in body
    assert "See your request" in body


def test_a_forged_or_cut_link_is_explained(client):
    for path in ("/requests/status/forged", "/requests/confirm/forged", "/requests/export/x"):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, path
        assert "<h1>This link does not work</h1>" in body
        assert "open it again from the email" in body


def test_a_status_link_of_a_removed_request_says_so(client, smtp, db):
    _file(client)
    [status_link] = _status_links(smtp, "ada@example.org", 1)
    db.session.delete(db.session.scalar(select(DataSubjectRequest)))
    db.session.commit()
    response = client.get(status_link)
    assert response.status_code == 404
    assert "This request no longer exists" in response.get_data(as_text=True)


def test_an_open_request_past_its_due_date_apologises(client, smtp, db, clock):
    _file(client)
    submit_form(client, link_in(smtp, "ada@example.org", "/requests/confirm/"), {})
    [status_link] = _status_links(smtp, "ada@example.org", 2)
    assert "(late: we apologise)" not in client.get(status_link).get_data(as_text=True)
    clock.advance(days=31)
    assert "(late: we apologise)" in client.get(status_link).get_data(as_text=True)
