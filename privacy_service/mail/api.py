"""Mail JSON API: the suppression look-up for internal services, and customers' lists and
contacts for clients bound to one customer organisation (another organisation's ids answer 404)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from privacy_service import clock
from privacy_service.crypto import blind_index
from privacy_service.errors import Forbidden, InvalidInput
from privacy_service.extensions import csrf, db, require_oauth
from privacy_service.mail import service
from privacy_service.mail.models import ListMembership, SubscriptionOrigin, Suppression
from privacy_service.mail.schemas import (
    ContactCreateSchema,
    ContactSchema,
    ContactsQuerySchema,
    ContactUpdateSchema,
    ListCreateSchema,
    ListSchema,
    ListUpdateSchema,
    SuppressionAnswerSchema,
    SuppressionQuerySchema,
)
from privacy_service.mail.subscriptions import request_subscription, send_confirmation_request
from privacy_service.oauth.service import current_client
from privacy_service.validation import load_json, load_query

blueprint = Blueprint("mail_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)


@blueprint.get("/suppression")
@require_oauth("suppression:read")
def suppression_lookup() -> ResponseReturnValue:
    """Is this address on the suppression list?
    ---
    get:
      tags: [suppression]
      summary: Look up an address on the suppression list
      security: [{oauth2: ["suppression:read"]}]
      parameters:
      - in: query
        schema: SuppressionQuerySchema
      responses:
        200:
          description: Whether sending to the address is forbidden, and why
          content:
            application/json:
              schema: SuppressionAnswerSchema
        401: {description: Missing or invalid token}
        403: {description: "Token lacks suppression:read"}
        422: {description: Invalid email}
    """
    query = load_query(SuppressionQuerySchema())
    scope = Suppression.organisation_id.is_(None)
    if query["organisation"] is not None:
        scope = or_(scope, Suppression.organisation_id == query["organisation"])
    reasons = sorted(
        set(
            db.session.scalars(
                select(Suppression.reason).where(
                    Suppression.email_index == blind_index(query["email"]), scope
                )
            )
        )
    )
    return jsonify(
        SuppressionAnswerSchema().dump({"suppressed": bool(reasons), "reasons": reasons})
    )


# --- customers' lists and contacts ---------------------------------------------------------------


def _organisation_id() -> int:
    """The organisation the client is bound to; operator-wide clients have no lists here."""
    client = current_client()
    if client.organisation_id is None:
        raise Forbidden(_l("This endpoint is for clients bound to a customer organisation."))
    return client.organisation_id


def _actor() -> str:
    return current_client().audit_ref


def _list_body(summary: service.ListSummary) -> dict:
    contact_list = summary.contact_list
    return ListSchema().dump(
        {
            "id": contact_list.id,
            "name": contact_list.name,
            "kind": contact_list.kind,
            "form_enabled": contact_list.form_enabled,
            "created_at": contact_list.created_at,
            "counts": {
                "subscribed": summary.subscribed,
                "unsubscribed": summary.unsubscribed,
                "pending": summary.pending,
            },
        }
    )


def _contact_body(membership: ListMembership) -> dict:
    contact = membership.contact
    return ContactSchema().dump(
        {
            "id": contact.id,
            "email": contact.email,
            "name": contact.name,
            "attributes": contact.attributes or {},
            "created_at": contact.created_at,
            "subscription": membership,
        }
    )


@blueprint.get("/lists")
@require_oauth("lists:read")
def lists_index() -> ResponseReturnValue:
    """The organisation's contact lists.
    ---
    get:
      tags: [lists]
      summary: List the contact lists of the client's organisation
      security: [{oauth2: ["lists:read"]}]
      responses:
        200:
          description: The lists with their subscription counts
          content:
            application/json:
              schema: ListsPageSchema
        401: {description: Missing or invalid token}
        403: {description: "Token lacks lists:read, or the client is not a customer's"}
    """
    summaries = service.organisation_lists(_organisation_id())
    return jsonify({"items": [_list_body(summary) for summary in summaries]})


@blueprint.post("/lists")
@require_oauth("lists:write")
def lists_create() -> ResponseReturnValue:
    """Create a list.
    ---
    post:
      tags: [lists]
      summary: Create a contact list
      security: [{oauth2: ["lists:write"]}]
      requestBody:
        content:
          application/json:
            schema: ListCreateSchema
      responses:
        201:
          description: The new list
          content:
            application/json:
              schema: ListSchema
        401: {description: Missing or invalid token}
        403: {description: "Token lacks lists:write"}
        422: {description: Invalid fields (or a list with this name exists)}
    """
    organisation_id = _organisation_id()
    data = load_json(ListCreateSchema())
    contact_list = service.create_list(
        organisation_id,
        data["name"],
        data["kind"],
        clock.now(),
        _actor(),
        consent_text=data.get("consent_text"),
    )
    db.session.commit()
    return jsonify(_list_body(service.list_summary(contact_list))), 201


@blueprint.get("/lists/<int:list_id>")
@require_oauth("lists:read")
def lists_show(list_id: int) -> ResponseReturnValue:
    """One list.
    ---
    get:
      tags: [lists]
      summary: Read one contact list
      security: [{oauth2: ["lists:read"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      responses:
        200:
          description: The list
          content:
            application/json:
              schema: ListSchema
        404: {description: "No such list in the client's organisation"}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    return jsonify(_list_body(service.list_summary(contact_list)))


@blueprint.patch("/lists/<int:list_id>")
@require_oauth("lists:write")
def lists_update(list_id: int) -> ResponseReturnValue:
    """Rename a list, change its consent text or its public form.
    ---
    patch:
      tags: [lists]
      summary: Change a contact list
      security: [{oauth2: ["lists:write"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      requestBody:
        content:
          application/json:
            schema: ListUpdateSchema
      responses:
        200:
          description: The list
          content:
            application/json:
              schema: ListSchema
        404: {description: "No such list in the client's organisation"}
        422: {description: Invalid fields}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    data = load_json(ListUpdateSchema())
    service.update_list(contact_list, data, clock.now(), _actor())
    db.session.commit()
    return jsonify(_list_body(service.list_summary(contact_list)))


@blueprint.delete("/lists/<int:list_id>")
@require_oauth("lists:write")
def lists_delete(list_id: int) -> ResponseReturnValue:
    """Delete a list.
    ---
    delete:
      tags: [lists]
      summary: Delete a list, its memberships and the contacts left in no other list
      security: [{oauth2: ["lists:write"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      responses:
        204: {description: Deleted}
        404: {description: "No such list in the client's organisation"}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    service.delete_list(contact_list, clock.now(), _actor())
    db.session.commit()
    return "", 204


@blueprint.get("/lists/<int:list_id>/contacts")
@require_oauth("lists:read")
def contacts_index(list_id: int) -> ResponseReturnValue:
    """A page of a list's contacts.
    ---
    get:
      tags: [lists]
      summary: List the contacts of a list (keyset pages)
      security: [{oauth2: ["lists:read"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      - in: query
        schema: ContactsQuerySchema
      responses:
        200:
          description: Contacts with their subscription to this list
          content:
            application/json:
              schema: ContactsPageSchema
        404: {description: "No such list in the client's organisation"}
        422: {description: Invalid query}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    query = load_query(ContactsQuerySchema())
    memberships = service.members_after(
        contact_list,
        after=query["after"],
        limit=query["limit"],
        status=query["status"],
        email=query["email"],
    )
    next_after = memberships[-1].id if len(memberships) == query["limit"] else None
    return jsonify(
        {"items": [_contact_body(item) for item in memberships], "next_after": next_after}
    )


@blueprint.post("/lists/<int:list_id>/contacts")
@require_oauth("lists:write")
def contacts_create(list_id: int) -> ResponseReturnValue:
    """Add a contact to a list.
    ---
    post:
      tags: [lists]
      summary: Add a contact (or send it a double opt-in confirmation)
      description: >
        Marketing lists need consent_source and consent_date unless double_opt_in is true, in
        which case the address gets a confirmation email and stays pending until the click.
        Values that look like card numbers, IBANs, national identifiers or health data are
        refused (422 naming the field).
      security: [{oauth2: ["lists:write"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      requestBody:
        content:
          application/json:
            schema: ContactCreateSchema
      responses:
        201:
          description: The contact with its subscription
          content:
            application/json:
              schema: ContactSchema
        202: {description: Double opt-in requested (nothing to show until confirmed)}
        404: {description: "No such list in the client's organisation"}
        409: {description: The address is already in the list}
        422: {description: "Invalid fields, missing consent, suppressed address or sensitive data"}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    data = load_json(ContactCreateSchema())
    now = clock.now()
    if data.pop("double_opt_in"):
        membership = request_subscription(
            contact_list,
            data["email"],
            data.get("name"),
            now,
            actor=_actor(),
            origin=SubscriptionOrigin.API.value,
            attributes=data.get("attributes"),
        )
        if membership is not None:
            send_confirmation_request(membership, data["email"], "en")
        db.session.commit()
        return jsonify({"status": "confirmation_requested"}), 202
    data["consent_at"] = data.pop("consent_date", None)
    if data["consent_at"] is not None and data["consent_at"] > now:
        raise InvalidInput(fields={"consent_date": [str(_l("The date cannot be in the future."))]})
    membership = service.add_contact(
        contact_list, data, now, _actor(), origin=SubscriptionOrigin.API.value
    )
    db.session.commit()
    return jsonify(_contact_body(membership)), 201


@blueprint.get("/lists/<int:list_id>/contacts/<int:contact_id>")
@require_oauth("lists:read")
def contacts_show(list_id: int, contact_id: int) -> ResponseReturnValue:
    """One contact of a list.
    ---
    get:
      tags: [lists]
      summary: Read a contact and its subscription to this list
      security: [{oauth2: ["lists:read"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      - {in: path, name: contact_id, required: true, schema: {type: integer}}
      responses:
        200:
          description: The contact
          content:
            application/json:
              schema: ContactSchema
        404: {description: "No such list or contact in the client's organisation"}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    return jsonify(_contact_body(service.get_membership(contact_list, contact_id)))


@blueprint.patch("/lists/<int:list_id>/contacts/<int:contact_id>")
@require_oauth("lists:write")
def contacts_update(list_id: int, contact_id: int) -> ResponseReturnValue:
    """Change a contact or its subscription.
    ---
    patch:
      tags: [lists]
      summary: Change a contact's name, attributes or subscription status
      description: >
        attributes replaces the whole set. Subscribing again needs consent_source and
        consent_date on a marketing list.
      security: [{oauth2: ["lists:write"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      - {in: path, name: contact_id, required: true, schema: {type: integer}}
      requestBody:
        content:
          application/json:
            schema: ContactUpdateSchema
      responses:
        200:
          description: The contact
          content:
            application/json:
              schema: ContactSchema
        404: {description: "No such list or contact in the client's organisation"}
        422: {description: Invalid fields or sensitive data}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    membership = service.get_membership(contact_list, contact_id)
    data = load_json(ContactUpdateSchema())
    now = clock.now()
    details = {key: data[key] for key in ("name", "attributes") if key in data}
    service.update_contact(membership.contact, details, now, _actor())
    if "status" in data:
        consent_at = data.get("consent_date")
        if consent_at is not None and consent_at > now:
            raise InvalidInput(
                fields={"consent_date": [str(_l("The date cannot be in the future."))]}
            )
        service.set_status(
            membership,
            data["status"],
            now,
            _actor(),
            consent_source=data.get("consent_source"),
            consent_at=consent_at,
            source="api",
        )
    db.session.commit()
    return jsonify(_contact_body(membership))


@blueprint.delete("/lists/<int:list_id>/contacts/<int:contact_id>")
@require_oauth("lists:write")
def contacts_remove(list_id: int, contact_id: int) -> ResponseReturnValue:
    """Remove a contact from a list.
    ---
    delete:
      tags: [lists]
      summary: Remove a contact from this list (the contact stays in its other lists)
      security: [{oauth2: ["lists:write"]}]
      parameters:
      - {in: path, name: list_id, required: true, schema: {type: integer}}
      - {in: path, name: contact_id, required: true, schema: {type: integer}}
      responses:
        204: {description: Removed}
        404: {description: "No such list or contact in the client's organisation"}
    """
    contact_list = service.get_list(_organisation_id(), list_id)
    membership = service.get_membership(contact_list, contact_id)
    service.remove_from_list(membership, clock.now(), _actor())
    db.session.commit()
    return "", 204
