"""Schemathesis fuzzes every operation of /api/v1 against its own OpenAPI schema (in process).

No input may cause a server error, and every response must match the schema. The served
equivalent is `schemathesis run …/openapi.json -H "Authorization: Bearer …"` (README).

Besides schemathesis' own data (valid and invalid by the schema, NUL included), a hook sends the
texts that broke the server before (issue 14): a lone surrogate, a NUL character or a text of
60,000 characters in place of any text of a JSON body or the query, and null in place of any field
of a JSON body, optional ones included.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
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


# The fuzzer checks validation and the schema against no particular date: its 169 operations,
# two fifths of the awkward-instant passes' time, run in the main and PostgreSQL passes only.
pytestmark = pytest.mark.clock_free

# The schema exactly as /api/v1/openapi.json serves it, called in process through the WSGI app.
DOCUMENT = api.get_openapi_schema()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.app = application

# A lone surrogate cannot be percent-encoded into a query string (it is no UTF-8), so only JSON
# bodies get one; NUL and long texts go everywhere.
BODY_TEXTS = st.sampled_from(["\ud800", "Eri\udfffka", "Eri\x00ka", "\x00", "x" * 60_000])
QUERY_TEXTS = st.sampled_from(["Mu\x00", "\x00", "x" * 60_000])


def _places(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """(path, value) of every field and item inside a JSON value."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found.append(((*path, key), item))
        found.extend(_places(item, (*path, key)))
    return found


def _with(value: Any, path: tuple, new: Any) -> Any:
    changed = copy.deepcopy(value)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return changed


def _resolved(node: dict) -> dict:
    while "$ref" in node:
        node = DOCUMENT["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _optional_fields(case) -> list[str]:
    """The optional fields of the operation's JSON body that the case left out."""
    operation = DOCUMENT["paths"][case.operation.path][case.method.lower()]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body is None or not isinstance(case.body, dict):
        return []
    body = _resolved(body)
    return [
        name
        for name in body.get("properties", {})
        if name not in body.get("required", []) and name not in case.body
    ]


@schema.hook
def flatmap_case(context, case):
    """The case as generated, or with one hostile text or one null put in."""
    variants = [st.just(case)]

    # Set past Case.__setattr__: it would re-validate the changed case against the schema with a
    # Rust validator, which cannot take a lone surrogate (and the change is meant to break the schema).
    def body_with(path_and_value):
        path, value = path_and_value
        object.__setattr__(case, "body", _with(case.body, path, value))
        return case

    def query_with(name_and_value):
        name, value = name_and_value
        object.__setattr__(case, "query", {**case.query, name: value})
        return case

    if case.media_type == "application/json" and isinstance(case.body, dict | list):
        places = _places(case.body)
        texts = [path for path, value in places if isinstance(value, str)]
        fields = [path for path, _value in places] + [(name,) for name in _optional_fields(case)]
        if texts:
            variants.append(st.tuples(st.sampled_from(texts), BODY_TEXTS).map(body_with))
        if fields:
            variants.append(st.tuples(st.sampled_from(fields), st.none()).map(body_with))
    if case.query:
        texts = [name for name, value in case.query.items() if isinstance(value, str)]
        if texts:
            variants.append(st.tuples(st.sampled_from(texts), QUERY_TEXTS).map(query_with))
    return st.one_of(*variants)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_responses_match_the_schema(case, fuzz_headers):
    case.call_and_validate(headers=fuzz_headers, checks=[not_a_server_error, response_schema_conformance])


@pytest.fixture
def group_admin_headers(db, keep_test_connection):
    """A group administrator (``exoderm.clinics.groups``), whom the group's operations answer beyond a 403."""
    from tests.signin import enrol_second_factor, totp_code

    from exoderm.clinics.groups import start_group

    admin = factories.UserFactory(clinic=factories.ClinicFactory(), role="clinic_admin")
    start_group(name="Fuzz group", admin=admin)
    enrol_second_factor(admin)
    token = issue_api_token(username=admin.username, password=factories.PASSWORD, otp=totp_code(admin))
    return {"Authorization": f"Bearer {token}"}


@schema.include(tag="clinic group").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_clinic_group_operations_as_a_group_administrator(case, group_admin_headers):
    case.call_and_validate(
        headers=group_admin_headers, checks=[not_a_server_error, response_schema_conformance]
    )
