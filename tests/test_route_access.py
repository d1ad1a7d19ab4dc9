"""The isolation matrix: every route of the URL map, called by every kind of caller, answers as
the access rule its view declares (privacy_service/route_access.py).

The routes come from the app's own URL map, so a route added later is covered without editing
this file; a route whose view declares no rule fails. Organisation A's objects are created first,
so every integer id in a path is filled with 1, an object of A (when the route's table has one);
organisation B's administrator and B's API clients asking for them must get 404.

Callers: anonymous, a member and an administrator of A, an administrator of B, DPO staff, and one
OAuth client per scope (list scopes belong to B's organisation; A has a list client of its own).
Refusals are checked first on every route, then the callers who may use a route use it (reads
before writes, since a write such as a deletion changes what later requests see).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, Rule

from privacy_service import clock
from privacy_service.mail import senders
from privacy_service.mail.campaigns import service as campaigns
from privacy_service.oauth.service import CUSTOMER_SCOPES, SCOPES
from privacy_service.route_access import Access, Kind, endpoint_access
from tests.factories import (
    DEFAULT_PASSWORD,
    ContactListFactory,
    DPOFactory,
    ListMembershipFactory,
    OrganisationFactory,
    UserFactory,
)
from tests.support.forms import login
from tests.support.oauth import bearer, issue_token

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# Path arguments that are not ids get a harmless value: tokens and keys that match nothing.
TEXT_ARGUMENTS = {"filename": "css/app.css", "code": "fr"}


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Access is what is checked here: CSRF and rate limits have tests of their own and would
    # answer before the access check does.
    return {"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "IMPORT_WORKER_THREAD": False}


@dataclass
class Caller:
    name: str
    session: str | None = None  # session cookie value
    token: str | None = None
    scopes: frozenset[str] = frozenset()
    organisation: str | None = None  # "A", "B" or None (operator)
    role: str | None = None  # member, org_admin, dpo

    @property
    def logged_in(self) -> bool:
        return self.session is not None


@dataclass
class World:
    client: FlaskClient
    callers: dict[str, Caller] = field(default_factory=dict)


def _session_cookie(app: Flask, client: FlaskClient) -> str:
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    return cookie.value


@pytest.fixture
def world(app: Flask, db: Any, migrated_database: Any) -> World:
    if migrated_database.backend == "sqlite" and os.environ.get("TEST_DATABASE_URL"):
        # Some 1,500 requests: once per run is enough, on the production engine when there.
        pytest.skip("the matrix runs on PostgreSQL")
    # Organisation A's objects first: in every table the row with id 1 is A's.
    org_a = OrganisationFactory(name="Organisation A")
    # User 1 is a member of A that no caller logs in as: A's administrator may remove it (a
    # write) without logging out the member below.
    spare = UserFactory(organisation=org_a, role="member")
    member_a = UserFactory(organisation=org_a, role="member")
    admin_a = UserFactory(organisation=org_a, role="org_admin")
    a_list = ContactListFactory(organisation_id=org_a.id, name="A list")
    ListMembershipFactory(contact_list=a_list, contact__email="a.person@example.org")
    client = app.test_client()
    a_token = issue_token(client, sorted(CUSTOMER_SCOPES), org_a.id)
    now = clock.now()
    address = senders.add_address(org_a.id, "news@a.example.com", "A", "test", now)
    address.verified_at = now
    campaign = campaigns.save_draft(
        org_a.id,
        {
            "name": "A news",
            "subject": "News",
            "sender_address_id": address.id,
            "list_id": a_list.id,
            "segment_id": None,
            "language": "en",
            "html_body": "<p>Hello</p>",
            "text_body": "",
        },
        now,
        "test",
        created_by_id=admin_a.id,
    )
    db.session.commit()
    assert (org_a.id, spare.id, a_list.id, address.id, campaign.id) == (1, 1, 1, 1, 1)

    org_b = OrganisationFactory(name="Organisation B")
    admin_b = UserFactory(organisation=org_b, role="org_admin")
    dpo = DPOFactory()
    world = World(client)
    for name, user, organisation in (
        ("member of A", member_a, "A"),
        ("admin of A", admin_a, "A"),
        ("admin of B", admin_b, "B"),
        ("DPO", dpo, None),
    ):
        client.delete_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
        login(client, user.email, DEFAULT_PASSWORD)
        world.callers[name] = Caller(
            name, _session_cookie(app, client), organisation=organisation, role=user.role
        )
    client.delete_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    world.callers["anonymous"] = Caller("anonymous")
    world.callers["list client of A"] = Caller(
        "list client of A", token=a_token, scopes=frozenset(CUSTOMER_SCOPES), organisation="A"
    )
    for scope in sorted(SCOPES):
        organisation = "B" if scope in CUSTOMER_SCOPES else None
        token = issue_token(client, [scope], org_b.id if organisation else None)
        world.callers[f"client {scope}"] = Caller(
            f"client {scope}", token=token, scopes=frozenset([scope]), organisation=organisation
        )
    return world


def _routes(app: Flask) -> list[tuple[Rule, str]]:
    pairs = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            pairs.append((rule, method))
    return pairs


def _url(rule: Rule) -> str:
    values: dict[str, Any] = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if type(converter).__name__.endswith("IntegerConverter"):
            values[name] = 1
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = TEXT_ARGUMENTS.get(name, "no-such-token")
    url = rule.rule
    for name, value in values.items():
        url = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), url)
    return url


def _call(app: Flask, world: World, caller: Caller, method: str, url: str) -> Any:
    client = world.client
    cookie_name = app.config.get("SESSION_COOKIE_NAME", "session")
    client.delete_cookie(cookie_name)
    if caller.session:
        client.set_cookie(cookie_name, caller.session)
    headers = bearer(caller.token) if caller.token else {}
    if url.startswith("/api/"):
        return client.open(url, method=method, headers=headers, json={}, buffered=True)
    return client.open(url, method=method, headers=headers, data={}, buffered=True)


def _sent_to_login(response: Any) -> bool:
    if response.status_code == 401:
        return True
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


def _refused(response: Any) -> bool:
    return response.status_code in (401, 403, 404) or _sent_to_login(response)


def _served(response: Any, has_ids: bool) -> bool:
    """Let through: not refused (404 only where the path names an object that may not exist)."""
    if response.status_code >= 500 or response.status_code in (401, 403):
        return False
    if _sent_to_login(response):
        return False
    return has_ids or response.status_code != 404


@dataclass(frozen=True)
class Expectation:
    caller: str
    check: str  # "login", "refused", "not_found", "served", "forbidden_scope", "no_5xx"


def _expectations(access: Access, world: World, has_ids: bool) -> list[Expectation]:
    """What each caller must get from a route with this rule; refusals first."""
    kind = access.kind
    session_callers = [c for c in world.callers.values() if c.logged_in]
    clients = [c for c in world.callers.values() if c.token]
    if kind is Kind.PUBLIC:
        return [Expectation(c, "no_refusal") for c in world.callers]
    if kind is Kind.OAUTH:
        wanted = set(access.scopes)
        refusals = [
            Expectation("anonymous", "unauthorised"),
            Expectation("admin of A", "unauthorised"),
        ]
        served = []
        for caller in clients:
            if not caller.scopes & wanted:
                refusals.append(Expectation(caller.name, "forbidden"))
            elif has_ids and caller.organisation == "B":
                refusals.append(Expectation(caller.name, "not_found"))
            else:
                served.append(Expectation(caller.name, "served"))
        return refusals + served
    refusals = [Expectation("anonymous", "login")]
    served: list[Expectation] = []
    for caller in session_callers:
        allowed = {
            Kind.LOGIN: True,
            Kind.CUSTOMER: caller.organisation is not None,
            Kind.CUSTOMER_ADMIN: caller.organisation is not None and caller.role == "org_admin",
            Kind.ORG_ADMIN: caller.role == "org_admin",
            Kind.DPO: caller.role == "dpo",
        }[kind]
        if not allowed:
            refusals.append(Expectation(caller.name, "refused"))
        elif has_ids and caller.organisation == "B" and kind is not Kind.LOGIN:
            refusals.append(Expectation(caller.name, "not_found"))
        else:
            served.append(Expectation(caller.name, "served"))
    # Session routes ignore bearer tokens: a client is as anonymous there.
    refusals.append(Expectation("client lists:write", "login"))
    return refusals + served


def _check(expectation: Expectation, response: Any, has_ids: bool) -> bool:
    status = response.status_code
    return {
        "login": lambda: _sent_to_login(response),
        "unauthorised": lambda: status == 401,
        "forbidden": lambda: status == 403,
        "refused": lambda: _refused(response) and not _sent_to_login(response),
        "not_found": lambda: status == 404,
        "served": lambda: _served(response, has_ids),
        "no_refusal": lambda: status < 500 and status not in (401, 403),
    }[expectation.check]()


def test_every_route_declares_who_may_call_it(app):
    undeclared = sorted(
        f"{rule.rule} ({rule.endpoint})"
        for rule in app.url_map.iter_rules()
        if endpoint_access(app, rule.endpoint) is None
    )
    assert not undeclared, (
        "routes without an access rule (use the access decorators of "
        "privacy_service/route_access.py, or @public('why')): " + ", ".join(undeclared)
    )


def test_every_route_answers_each_caller_as_its_rule_says(app, world):
    failures: list[str] = []
    planned: list[tuple[int, str, str, bool, Expectation]] = []
    for rule, method in _routes(app):
        access = endpoint_access(app, rule.endpoint)
        assert access is not None, rule.rule
        url = _url(rule)
        has_ids = any(
            type(rule._converters[name]).__name__.endswith("IntegerConverter")
            for name in rule.arguments
        )
        for expectation in _expectations(access, world, has_ids):
            if expectation.check in ("served", "no_refusal"):
                phase = 1 if method == "GET" else 2
            else:
                phase = 0
            planned.append((phase, method, url, has_ids, expectation))
    planned.sort(key=lambda item: item[0])
    own_objects_served = 0
    for _phase, method, url, has_ids, expectation in planned:
        caller = world.callers[expectation.caller]
        try:
            response = _call(app, world, caller, method, url)
        except Exception as error:  # the test client re-raises what the app's handler could not
            failures.append(f"{method} {url} as {caller.name}: {type(error).__name__}: {error}")
            continue
        if not _check(expectation, response, has_ids):
            failures.append(
                f"{method} {url} as {caller.name}: expected {expectation.check}, "
                f"got {response.status_code} {response.headers.get('Location', '')}"
            )
        elif has_ids and expectation.check == "served" and response.status_code < 400:
            own_objects_served += 1
    assert not failures, f"{len(failures)} answers break the access table:\n" + "\n".join(failures)
    # The ids really are A's objects: A's callers read them (else every 404 above proves nothing).
    assert own_objects_served >= 10


def test_a_list_of_organisation_a_is_served_to_a_and_not_found_for_b(app, world):
    member_a, admin_b = world.callers["member of A"], world.callers["admin of B"]
    assert _call(app, world, member_a, "GET", "/lists/1").status_code == 200
    assert _call(app, world, admin_b, "GET", "/lists/1").status_code == 404
    assert (
        _call(app, world, world.callers["list client of A"], "GET", "/api/v1/lists/1").status_code
        == 200
    )
    assert (
        _call(app, world, world.callers["client lists:read"], "GET", "/api/v1/lists/1").status_code
        == 404
    )


def test_a_route_added_without_a_rule_is_reported(app):
    @app.get("/undeclared-for-the-test")
    def undeclared() -> str:
        return "hello"

    assert endpoint_access(app, "undeclared") is None
    with pytest.raises(AssertionError, match="undeclared-for-the-test"):
        test_every_route_declares_who_may_call_it(app)
