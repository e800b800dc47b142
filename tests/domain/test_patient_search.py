"""Patient search: names in any spelling of their umlauts and accents, phone, e-mail, birth date."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps as installed_apps
from django.db import connection
from tests import factories

from exoderm.patients import selectors
from exoderm.patients.erasure import request_erasure
from exoderm.patients.models import PatientIdentity
from exoderm.patients.search import PhoneTerm, fold, name_key, parse_query, phone_tail
from exoderm.patients.services import correct_patient, create_patient


@pytest.mark.parametrize(
    ("spellings", "folded"),
    [
        (["Müller", "Mueller", "Muller", "MÜLLER", "MUELLER"], "muller"),
        (["Größmann", "Groessmann", "Grossmann", "GROẞMANN"], "grossmann"),
        (["Jäger", "Jaeger", "Jager"], "jager"),
        (["Öztürk", "Oeztuerk", "Ozturk"], "ozturk"),
        (["José", "Jose", "JOSÉ"], "jose"),
        (["Łukasz", "Lukasz"], "lukasz"),
        (["Søren", "Soren"], "soren"),
        (["O'Brien", "O’Brien", "OBrien"], "obrien"),
    ],
)
def test_spellings_of_one_name_fold_to_one_key(spellings, folded):
    assert {fold(spelling) for spelling in spellings} == {folded}


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Bauer", "bauer"),  # ue after a vowel is no umlaut: Bauer must not become Bar
        ("Feuerstein", "feuerstein"),
        ("Quelle", "quelle"),  # nor after q
        ("Neue", "neue"),
        ("Müller-Lüdenscheidt", "muller ludenscheidt"),
        ("  Anna   Maria ", "anna maria"),
    ],
)
def test_folding_keeps_what_is_no_umlaut(name, folded):
    assert fold(name) == folded


def test_the_key_holds_family_name_then_given_name():
    assert name_key("Jürgen", "Groß") == "gross jurgen"


@pytest.mark.parametrize(
    ("typed", "tail"),
    [
        ("030 1234567", "01234567"),
        ("+49 30 1234567", "01234567"),
        ("0049 (0)30 123 45 67", "01234567"),
        ("0151/12345678", "12345678"),
        ("030 12345", "3012345"),
        ("12345", ""),  # too few digits to be a phone number
    ],
)
def test_a_typed_phone_number_is_compared_by_its_last_digits(typed, tail):
    assert phone_tail(typed) == tail


def test_a_query_is_taken_apart():
    query = parse_query("Müller 17.05.1980 +49 30 1234567 anna@example.org EX-7K3Q9 1980-05-18")
    assert query.birth_dates == [dt.date(1980, 5, 17), dt.date(1980, 5, 18)]
    assert query.phones == [PhoneTerm(typed="+49 30 1234567", tail="01234567")]
    assert query.emails == ["anna@example.org"]
    assert query.words == ["Müller", "EX-7K3Q9"]
    assert parse_query("31.02.1980").invalid_dates == 1


def _patient(clinic, **identity):
    return factories.PatientFactory(clinic=clinic, **{f"identity__{k}": v for k, v in identity.items()})


def _found(clinic, query):
    return set(selectors.patients(clinic=clinic, query=query))


@pytest.mark.django_db
def test_umlaut_spellings_find_each_other(clinic):
    umlaut = _patient(clinic, family_name="Müller")
    transliterated = _patient(clinic, family_name="Mueller")
    plain = _patient(clinic, family_name="Muller")
    _patient(clinic, family_name="Meier")
    for query in ("Müller", "Mueller", "Muller", "MÜLLER", "mül", "muel"):
        assert _found(clinic, query) == {umlaut, transliterated, plain}, query


@pytest.mark.django_db
def test_sharp_s_accents_and_letters_without_decomposition(clinic):
    gross = _patient(clinic, family_name="Größmann")
    jose = _patient(clinic, given_name="José", family_name="García")
    lukasz = _patient(clinic, given_name="Łukasz", family_name="Wałęsa")
    assert _found(clinic, "Groessmann") == _found(clinic, "grossmann") == {gross}
    assert _found(clinic, "jose garcia") == {jose}
    assert _found(clinic, "Lukasz Walesa") == {lukasz}


@pytest.mark.django_db
def test_bauer_is_not_found_as_bar(clinic):
    bauer = _patient(clinic, family_name="Bauer")
    barth = _patient(clinic, family_name="Barth")
    assert _found(clinic, "Bauer") == {bauer}
    assert _found(clinic, "Bar") == {barth}


@pytest.mark.django_db
def test_every_word_must_match_name_or_code(clinic):
    erika = _patient(clinic, given_name="Erika", family_name="Mustermann")
    _patient(clinic, given_name="Max", family_name="Mustermann")
    assert _found(clinic, "erika muster") == {erika}
    assert _found(clinic, erika.code.lower()) == {erika}
    assert _found(clinic, "erika meier") == set()


@pytest.mark.django_db
def test_search_by_phone_in_any_notation(clinic):
    berlin = _patient(clinic, phone="030 1234567")
    international = _patient(clinic, phone="+49 (0)30 123 45 67")
    mobile = _patient(clinic, phone="+49 151 12345678")
    for query in ("030 1234567", "+49 30 1234567", "0049301234567", "1234567"):
        assert _found(clinic, query) == {berlin, international}, query
    assert _found(clinic, "0151-123 456 78") == {mobile}
    assert _found(clinic, "030 7654321") == set()


@pytest.mark.django_db
def test_a_code_of_digits_is_still_found_as_a_code(clinic):
    numbered = _patient(clinic, phone="")
    numbered.code = "20261234"  # a clinic may give its own codes
    numbered.save()
    assert _found(clinic, "20261234") == {numbered}


@pytest.mark.django_db
def test_search_by_email_ignoring_case(clinic):
    anna = _patient(clinic, email="Anna.Schmidt@Example.org")
    _patient(clinic, email="max@example.org")
    assert _found(clinic, "anna.schmidt@example.ORG") == {anna}
    assert _found(clinic, "anna.schmidt@") == {anna}


@pytest.mark.django_db
def test_search_by_birth_date_in_german_or_iso_notation(clinic):
    born_may = _patient(clinic, family_name="Mai", date_of_birth=dt.date(1980, 5, 17))
    born_june = _patient(clinic, family_name="Juni", date_of_birth=dt.date(1980, 6, 17))
    assert _found(clinic, "17.05.1980") == _found(clinic, "1980-05-17") == {born_may}
    assert _found(clinic, "17.6.1980") == {born_june}
    assert _found(clinic, "mai 17.06.1980") == set()
    assert _found(clinic, "31.02.1980") == set()  # no such day: nobody, not everybody


@pytest.mark.django_db
def test_search_stays_in_the_clinic_and_hides_restricted_records(clinic, other_clinic, clinic_admin):
    ours = _patient(clinic, family_name="Müller")
    _patient(other_clinic, family_name="Müller")
    erased = _patient(clinic, family_name="Mueller")
    request_erasure(patient=erased, by=clinic_admin, received_on=dt.date.today(), erase_photos=False)
    assert _found(clinic, "Muller") == {ours}
    assert set(selectors.patient_choices(clinic=clinic)) == {ours}


@pytest.mark.django_db
def test_erasure_blanks_the_phone_digits_with_the_phone(clinic, clinic_admin):
    patient = _patient(clinic, phone="030 1234567")
    request_erasure(patient=patient, by=clinic_admin, received_on=dt.date.today(), erase_photos=False)
    identity = PatientIdentity.objects.get(patient=patient)
    assert (identity.phone, identity.phone_digits) == ("", "")


@pytest.mark.django_db
def test_services_keep_the_keys_in_step(clinic, assistant):
    patient = create_patient(
        clinic=clinic,
        by=assistant,
        fitzpatrick=3,
        glogau=2,
        given_name="Jürgen",
        family_name="Weiß",
        date_of_birth=dt.date(1970, 1, 2),
        phone="0711 555 0101",
    )
    assert _found(clinic, "juergen weiss") == {patient}
    correct_patient(
        patient=patient,
        changes={"family_name": "Schön", "phone": "+49 89 7654321"},
        reason="Married, moved",
        by=assistant,
    )
    assert _found(clinic, "weiss") == set()
    assert _found(clinic, "Schoen") == _found(clinic, "089 7654321") == {patient}


@pytest.mark.django_db
def test_pickers_sort_by_folded_family_then_given_name(clinic):
    zimmermann = _patient(clinic, given_name="Anna", family_name="Zimmermann")
    mueller_max = _patient(clinic, given_name="Max", family_name="Müller")
    mueller_anna = _patient(clinic, given_name="Anna", family_name="Mueller")
    abel = _patient(clinic, given_name="Ulrich", family_name="Abel")
    assert list(selectors.patient_choices(clinic=clinic)) == [abel, mueller_anna, mueller_max, zimmermann]


@pytest.mark.django_db
def test_the_search_is_one_query(clinic, django_assert_num_queries):
    for family_name in ("Müller", "Mueller", "Bauer"):
        _patient(clinic, family_name=family_name, phone="030 1234567")
    with django_assert_num_queries(1):
        found = list(selectors.patients(clinic=clinic, query="Muller 17.05.1980 030-1234567 @example"))
    assert len(found) == 2


@pytest.mark.django_db
def test_the_data_migration_fills_the_keys_of_existing_identities(clinic):
    patient = _patient(clinic, family_name="Größmann", phone="030 1234567")
    PatientIdentity.objects.filter(patient=patient).update(search_key="", phone_digits="")
    migration = importlib.import_module("exoderm.patients.migrations.0004_fill_identity_search_keys")
    migration.fill_search_keys(installed_apps, connection.schema_editor())
    identity = PatientIdentity.objects.get(patient=patient)
    assert (identity.search_key, identity.phone_digits) == ("grossmann erika", "0301234567")
