"""The token endpoint (RFC 6749 client-credentials; its errors keep the RFC's format)."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from privacy_service.extensions import authorization_server, csrf, limiter
from privacy_service.route_access import public

blueprint = Blueprint("oauth", __name__)
csrf.exempt(blueprint)


@blueprint.post("/oauth/token")
@limiter.limit("60 per minute")
@public("OAuth token endpoint, authenticated by client credentials")
def issue_token() -> ResponseReturnValue:
    """Issue a bearer token for a client's credentials.
    ---
    post:
      tags: [oauth]
      summary: Issue an access token (client credentials grant)
      description: >
        Authenticate with HTTP Basic (client id and secret) or form fields client_id and
        client_secret, send grant_type=client_credentials and optionally a space-separated scope.
        Errors follow RFC 6749 section 5.2.
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [grant_type]
              properties:
                grant_type: {type: string, enum: [client_credentials]}
                scope: {type: string}
      responses:
        200:
          description: A bearer token
          content:
            application/json:
              schema:
                type: object
                properties:
                  access_token: {type: string}
                  token_type: {type: string}
                  expires_in: {type: integer}
                  scope: {type: string}
        400: {description: Invalid request or grant}
        401: {description: Invalid client credentials}
    """
    return authorization_server.create_token_response()
