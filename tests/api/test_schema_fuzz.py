"""Schemathesis fuzzes every operation of /api/v1 against its own OpenAPI schema (in process).

No input may cause a server error, and every response must match the schema. The served
equivalent is `schemathesis run …/openapi.json -H "Authorization: Bearer …"` (README).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from tests import factories

from exoderm.api.main import api
from exoderm.clinics.services import issue_api_token
from exoderm.wsgi import application


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: requests must not close the test transaction's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_headers(db, keep_test_connection):
    clinic = factories.ClinicFactory()
    user = factories.UserFactory(clinic=clinic, role="clinician")
    factories.PatientFactory(clinic=clinic)
    factories.LotFactory(product__clinic=clinic)
    factories.ConsentTemplateFactory(clinic=clinic)
    factories.CourseTemplateFactory(clinic=clinic)
    token = issue_api_token(username=user.username, password=factories.PASSWORD)
    return {"Authorization": f"Bearer {token}"}


# The schema exactly as /api/v1/openapi.json serves it, called in process through the WSGI app.
schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = application


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_responses_match_the_schema(case, fuzz_headers):
    case.call_and_validate(headers=fuzz_headers, checks=[not_a_server_error, response_schema_conformance])
