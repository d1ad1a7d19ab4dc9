"""Domain exceptions of plans; the one handler in ``privacy_service.errors`` renders them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from privacy_service.errors import Conflict, DomainError, Forbidden


class SendingNotApproved(Forbidden):
    # FAQ: a new account may design emails at once but sends only after approval.
    code = "sending_not_approved"
    default_message = _l(
        "Your organisation cannot send emails yet: our compliance team must approve it first. "
        "You can already design campaigns and import lists; completing your profile speeds up "
        "the review."
    )


class PlanChangeRefused(Conflict):
    code = "plan_change_refused"


class PaymentMethodRefused(DomainError):
    status = 422
    code = "payment_method_refused"
