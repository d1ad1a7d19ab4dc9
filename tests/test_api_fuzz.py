"""The whole API fuzzed from its own OpenAPI document (schemathesis), with valid tokens.

Every operation of ``/api/openapi.json`` gets generated requests, valid and invalid, sent with a
token that holds the operation's scope: an operator client for the operator-wide scopes, a
customer organisation's client for the list scopes. Every answer must be documented, match its
schema and content type, and never be a 5xx; schemathesis' other checks (missing or ignored
authentication, negative data accepted...) are on too.

The number of examples per operation is bounded (``FUZZ_EXAMPLES``, environment
``PRIVACY_SERVICE_FUZZ_EXAMPLES``) so the suite stays fast. With PostgreSQL configured it runs
there only (the backend where type limits bite: integer ranges, NUL characters).
"""

from __future__ import annotations

import contextvars
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance

from privacy_service.oauth.service import CUSTOMER_SCOPES, SCOPES
from tests.factories import ContactListFactory, OrganisationFactory
from tests.support.oauth import issue_token

FUZZ_EXAMPLES = int(os.environ.get("PRIVACY_SERVICE_FUZZ_EXAMPLES", "12"))


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Rate limits would turn the fuzzer's bursts into 429s (documented, but they hide the rest).
    return {"RATELIMIT_ENABLED": False, "IMPORT_WORKER_THREAD": False}


@pytest.fixture
def api(app, db, migrated_database):
    if migrated_database.backend == "sqlite" and os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("fuzzed on PostgreSQL")
    client = app.test_client()
    organisation = OrganisationFactory()
    ContactListFactory(organisation_id=organisation.id, name="Fuzzed list")
    operator_token = issue_token(client, sorted(set(SCOPES) - CUSTOMER_SCOPES))
    customer_token = issue_token(client, sorted(CUSTOMER_SCOPES), organisation.id)

    def isolated(environ: dict[str, Any], start_response: Any) -> Any:
        # Each request in its own contexts, as in production (see IsolatedClient): the test's
        # app context would otherwise be shared by every request, and ``g`` with it.
        return contextvars.Context().run(app, environ, start_response)

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", isolated)
    return schema, {"operator": operator_token, "customer": customer_token}


def _token_for(operation: Any, tokens: dict[str, str]) -> str | None:
    security = operation.definition.raw.get("security") or []
    wanted = {
        scope for requirement in security for scopes in requirement.values() for scope in scopes
    }
    if not wanted:
        return None
    return tokens["customer"] if wanted <= CUSTOMER_SCOPES else tokens["operator"]


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    fuzz()


def test_every_operation_answers_as_documented(api):
    schema, tokens = api
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        token = _token_for(operation, tokens)
        try:
            _fuzz(operation, {"Authorization": f"Bearer {token}"} if token else {})
        except (Exception, BaseExceptionGroup) as error:  # report each operation, go on
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
