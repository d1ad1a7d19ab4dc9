"""Mail models shared across features: the suppression list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from privacy_service.extensions import db


class Suppression(db.Model):
    """An address that must never be imported or mailed again, kept only as its blind index.

    ``organisation_id`` NULL means every sender (erasure, complaint); otherwise one customer's
    unsubscribe.
    """

    __tablename__ = "suppression"
    __table_args__ = (UniqueConstraint("email_index", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_index: Mapped[str] = mapped_column(String(64), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    reason: Mapped[str] = mapped_column(String(30))  # erasure | unsubscribe | bounce | complaint
    created_at: Mapped[datetime]
