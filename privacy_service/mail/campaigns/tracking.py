"""Open pixel and click redirects, and the events they record.

Privacy policy, "Email tracking": only added when the organisation enabled tracking and the
recipient consented to behavioural tracking (dispatch.py decides per message). Links carry a
signed token naming the recipient row and, for clicks, the URL that was in the message: the
redirect goes only there (no open redirect). When the person withdrew their tracking consent
after the message was sent, nothing more is recorded.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select

from privacy_service.consent.service import check
from privacy_service.extensions import db
from privacy_service.mail.campaigns.models import CampaignRecipient
from privacy_service.mail.models import MessageEvent, MessageEventKind
from privacy_service.signing import sign, unsign

OPEN_PURPOSE = "campaigns.open"
CLICK_PURPOSE = "campaigns.click"
TRACKING_PURPOSE = "behavioural_tracking"


def _absolute(endpoint: str, **values: str) -> str:
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"].rstrip("/") + path


def open_url(recipient_id: int) -> str:
    return _absolute("campaigns_public.opened", token=sign(OPEN_PURPOSE, recipient_id))


def click_url(recipient_id: int, url: str) -> str:
    return _absolute("campaigns_public.clicked", token=sign(CLICK_PURPOSE, [recipient_id, url]))


def _recipient(recipient_id: object) -> CampaignRecipient | None:
    if not isinstance(recipient_id, int):
        return None
    recipient = db.session.get(CampaignRecipient, recipient_id)
    if recipient is None or not recipient.tracked:
        return None
    decision = check(recipient.email_index, TRACKING_PURPOSE, recipient.organisation_id)
    if decision is None or not decision.granted:
        return None
    return recipient


def _record(recipient: CampaignRecipient, kind: str, now: datetime, detail=None) -> None:
    db.session.add(
        MessageEvent(
            organisation_id=recipient.organisation_id,
            contact_id=recipient.contact_id,
            email_index=recipient.email_index,
            kind=kind,
            campaign_id=recipient.campaign_id,
            occurred_at=now,
            detail=detail,
        )
    )


def record_open(token: str, now: datetime) -> None:
    """An open, recorded once per recipient (mail clients fetch images again and again)."""
    recipient = _recipient(unsign(OPEN_PURPOSE, token))
    if recipient is None:
        return
    seen = db.session.scalar(
        select(MessageEvent.id).where(
            MessageEvent.campaign_id == recipient.campaign_id,
            MessageEvent.email_index == recipient.email_index,
            MessageEvent.kind == MessageEventKind.OPENED.value,
        )
    )
    if seen is None:
        _record(recipient, MessageEventKind.OPENED.value, now)


def record_click(token: str, now: datetime) -> str:
    """The URL the message carried (the redirect target); the click is recorded when allowed."""
    payload = unsign(CLICK_PURPOSE, token)
    if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[1], str):
        from privacy_service.signing import InvalidToken

        raise InvalidToken()
    recipient_id, url = payload
    recipient = _recipient(recipient_id)
    if recipient is not None:
        _record(recipient, MessageEventKind.CLICKED.value, now, {"url": url})
    return url
