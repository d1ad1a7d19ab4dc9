"""The open pixel and the click redirect: public, no cookie, no CSRF (mail clients fetch them)."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, redirect
from flask.typing import ResponseReturnValue

from privacy_service import clock
from privacy_service.extensions import db
from privacy_service.mail.campaigns import tracking
from privacy_service.route_access import public
from privacy_service.signing import InvalidToken

blueprint = Blueprint("campaigns_public", __name__)

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@blueprint.get("/t/o/<token>.gif")
@public("open pixel of a campaign message, signed token")
def opened(token: str) -> ResponseReturnValue:
    try:
        tracking.record_open(token, clock.now())
        db.session.commit()
    except InvalidToken:
        db.session.rollback()
    # The image whatever happened: a broken image tells nothing to anyone.
    response = Response(PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/t/c/<token>")
@public("click redirect of a campaign message, signed token")
def clicked(token: str) -> ResponseReturnValue:
    # A bad token answers the error page: the redirect goes only to a URL we signed.
    url = tracking.record_click(token, clock.now())
    db.session.commit()
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response
