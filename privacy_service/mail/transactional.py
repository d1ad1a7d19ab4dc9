"""Transactional emails (confirmations, request updates), rendered in the recipient's language
and queued in the outbox in the caller's transaction: they go out once the caller commits."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from flask import render_template
from flask_babel import force_locale

from privacy_service import clock
from privacy_service.mail import outbox
from privacy_service.mail.outbox_models import OutboxKind


def render_transactional(
    to: str,
    template: str,
    locale: str = "en",
    *,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> EmailMessage:
    """``<template>.subject.txt`` and ``<template>.txt`` rendered in ``locale``."""
    with force_locale(locale):
        subject = render_template(f"{template}.subject.txt", **context).strip()
        body = render_template(f"{template}.txt", **context)
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    # After set_content, which clears every Content-* header.
    message["Content-Language"] = locale
    return message


def send_transactional(
    to: str,
    template: str,
    locale: str = "en",
    *,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> str:
    """Render the message and queue it for ``to``; returns its Message-ID.

    It is sent after the caller's transaction commits (nothing goes for a rolled-back change;
    a relay outage delays it, never loses it).
    """
    message = render_transactional(to, template, locale, headers=headers, **context)
    now = clock.now()
    outbox_id = outbox.enqueue(message, recipient=to, now=now, kind=OutboxKind.TRANSACTIONAL.value)
    return outbox.message_id_for(outbox_id, now)
