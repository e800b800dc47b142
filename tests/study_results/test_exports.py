"""The exports of a study, each checked by the rules of the tool that reads it: REDCap's data
dictionary format, FHIR R5 (fhir.resources), SPSS and Stata files read back by pyreadstat with
their labels, and the tidy CSV; pseudonymised (no patient name, code or date)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import re
import tempfile
import zipfile
import zoneinfo
from pathlib import Path

import pyreadstat
import pytest
from django.utils import timezone
from fhir.resources.bundle import Bundle

from exoderm.safety.services import record_adverse_event
from exoderm.studies import services
from exoderm.studies.analysis import unblinding
from exoderm.studies.analysis.exports import REDCAP_DICTIONARY_HEADER, TIDY_COLUMNS
from tests import factories
from tests.photos.conftest import media_root  # noqa: F401 (fixture)

# REDCap's data dictionary rules (REDCap's "Data Dictionary" help and its upload checks).
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FIELD_TYPES = {
    *("text", "notes", "dropdown", "radio", "checkbox", "yesno", "truefalse"),
    *("calc", "file", "slider", "descriptive", "sql"),
}
VALIDATIONS = {
    "",
    "integer",
    "number",
    "date_ymd",
    "date_dmy",
    "datetime_ymd",
    "email",
    "phone",
    "time",
    "zipcode",
}
CHOICES = re.compile(r"^\s*-?\w+\s*,\s*[^|]+(\|\s*-?\w+\s*,\s*[^|]+)*$")
REDCAP_COLUMNS = {"record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"}


@pytest.fixture
def scene(clinic, media_root):  # noqa: F811
    scene = factories.SplitFaceStudyScene(
        clinic,
        endpoints=[
            services.EndpointInput(kind="gais", session_number=3, weeks_after_session=6, primary=True),
            services.EndpointInput(
                kind="metric",
                session_number=3,
                weeks_after_session=6,
                metric="spot_count",
                region="cheek_left",
            ),
        ],
    )
    scene.enrolled = factories.run_split_face_study(scene, participants=3)
    first = scene.enrolled[0]
    record_adverse_event(
        user=scene.clinician, patient=first.patient, term="erythema", side="face_left",
        onset=first.enrolled_at.date(), severity=1, serious=False,
        related_to_procedure="probable", related_to_product="possible",
    )  # fmt: skip
    unblinding.unblind_study(study=scene.study, by=scene.pi, reason="Last visit done")
    return scene


def _export(api, scene, kind):
    response = api.get(f"/studies/{scene.study.pk}/export", {"format": kind})
    assert response.status_code == 200, response.content
    return response.content


def _no_identity(text, scene):
    for participant in scene.enrolled:
        patient = participant.patient
        assert patient.code not in text
        assert patient.identity.family_name not in text
        assert participant.pseudonym in text
    assert str(scene.enrolled[0].enrolled_at.date()) not in text


def test_every_format_reads_back_by_the_rules_of_its_tool(api_as, scene):
    api = api_as(scene.coordinator)

    tidy = _export(api, scene, "csv").decode()
    rows = list(csv.DictReader(io.StringIO(tidy)))
    assert list(rows[0]) == TIDY_COLUMNS
    spots = [r for r in rows if r["metric"] == "spot_count" and r["visit"] == "s3w6"]
    assert {r["arm"] for r in spots} == {"A", "B"} and {r["side"] for r in spots} == {
        "face_left",
        "face_right",
    }
    assert all(r["change"] for r in spots)
    _no_identity(tidy, scene)

    with zipfile.ZipFile(io.BytesIO(_export(api, scene, "redcap"))) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    dictionary = list(csv.reader(io.StringIO(files["data_dictionary.csv"])))
    assert dictionary[0] == REDCAP_DICTIONARY_HEADER
    fields = {}
    for row in dictionary[1:]:
        name, form, _section, kind, label, choices, _note, validation = row[:8]
        assert FIELD_NAME.match(name) and len(name) <= 26, name
        assert FIELD_NAME.match(form), form
        assert kind in FIELD_TYPES and validation in VALIDATIONS and label
        if kind in {"dropdown", "radio", "checkbox"}:
            assert CHOICES.match(choices), choices
        else:
            assert choices == ""
        fields[name] = (form, kind, choices, validation)
    assert dictionary[1][0] == "record_id"
    events = {row["unique_event_name"] for row in csv.DictReader(io.StringIO(files["events.csv"]))}
    assert events == {"baseline_arm_1", "s1w6_arm_1", "s2w6_arm_1", "s3w6_arm_1"}
    designated = {
        (row["unique_event_name"], row["form"])
        for row in csv.DictReader(io.StringIO(files["instrument_designations.csv"]))
    }
    records = list(csv.DictReader(io.StringIO(files["records.csv"])))
    assert set(records[0]) <= REDCAP_COLUMNS | set(fields)
    for record in records:
        assert record["redcap_event_name"] in events
        for name, value in record.items():
            if name in REDCAP_COLUMNS or value == "":
                continue
            form, kind, choices, validation = fields[name]
            assert (record["redcap_event_name"], form) in designated, (name, record["redcap_event_name"])
            if kind == "dropdown":
                assert value in {c.split(",")[0].strip() for c in choices.split("|")}, (name, value)
            if kind == "yesno":
                assert value in {"0", "1"}
            if validation == "integer":
                int(value)
            if validation == "number":
                float(value)
    adverse = [r for r in records if r["redcap_repeat_instrument"] == "adverse_events"]
    assert len(adverse) == 1 and adverse[0]["redcap_repeat_instance"] == "1" and adverse[0]["ae_grade"] == "1"
    assert sum(1 for r in records if r["redcap_event_name"] == "s3w6_arm_1") == 3
    _no_identity(files["records.csv"], scene)

    bundle_json = _export(api, scene, "fhir").decode()
    bundle = Bundle.model_validate_json(bundle_json)  # R5 validation by fhir.resources
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert {"ResearchStudy", "ResearchSubject", "Patient", "Observation", "AdverseEvent"} <= set(kinds)
    assert kinds.count("ResearchSubject") == 3
    subject = next(e.resource for e in bundle.entry if e.resource.get_resource_type() == "ResearchSubject")
    assert re.fullmatch(r"face_left:[AB] face_right:[AB]", subject.extension[0].valueString)
    spot_values = [
        entry.resource
        for entry in bundle.entry
        if entry.resource.get_resource_type() == "Observation" and entry.resource.code.text == "spot_count"
    ]
    assert spot_values and spot_values[0].valueQuantity.code == "{count}"
    assert spot_values[0].valueQuantity.system == "http://unitsofmeasure.org"
    _no_identity(bundle_json, scene)

    for kind, reader in (("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"study.{kind}"
            path.write_bytes(_export(api, scene, kind))
            frame, meta = reader(str(path))
        assert set(frame["pseudonym"]) == {p.pseudonym for p in scene.enrolled}
        labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
        assert labels["day"] == "Day from enrolment"
        assert any(label.startswith("GAIS") for label in labels.values() if label)
        assert meta.variable_value_labels["side"] == {1: "face_left", 2: "face_right", 3: "whole"}
        if kind == "sav":
            gais = next(name for name, label in labels.items() if label and label.startswith("GAIS"))
            assert meta.variable_value_labels[gais][2.0] == "much improved"


def test_a_blinded_study_exports_no_arm_and_raters_export_nothing(api_as, clinic):
    scene = factories.SplitFaceStudyScene(clinic)
    scene.participant()
    tidy = _export(api_as(scene.pi), scene, "redcap")
    with zipfile.ZipFile(io.BytesIO(tidy)) as archive:
        dictionary = archive.read("data_dictionary.csv").decode()
    assert "arm_l" not in dictionary
    bundle = json.loads(_export(api_as(scene.pi), scene, "fhir"))
    assert all(
        "extension" not in e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "ResearchSubject"
    )
    response = api_as(scene.raters[0]).get(f"/studies/{scene.study.pk}/export", {"format": "csv"})
    assert response.status_code == 403


def _references(node):
    """Every ``reference`` string inside a resource."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


@pytest.fixture
def charted(clinic, media_root):  # noqa: F811
    """A finished study of two participants and a third who had the first session charted from
    a kit yesterday, two days after the enrolment (microneedling, then each half's vial), an
    erythema the day after, and withdrew;
    the vehicle is not of stem cells (a Medication in FHIR, the exosome serum a
    BiologicallyDerivedProduct)."""
    from exoderm.products.models import Product, Source
    from exoderm.studies.models import Participant
    from exoderm.treatments.services import ProcedureInput

    scene = factories.SplitFaceStudyScene(
        clinic,
        endpoints=[
            services.EndpointInput(kind="gais", session_number=3, weeks_after_session=6, primary=True),
            services.EndpointInput(
                kind="metric",
                session_number=3,
                weeks_after_session=6,
                metric="spot_count",
                region="cheek_left",
            ),
        ],
    )
    Product.objects.filter(pk=scene.vehicle.pk).update(source=Source.OTHER)
    scene.enrolled = factories.run_split_face_study(scene, participants=2)
    zone = zoneinfo.ZoneInfo(clinic.time_zone)
    noon = dt.datetime.combine(timezone.localdate(timezone=zone) - dt.timedelta(days=1), dt.time(12), zone)
    # consented days before the session (the default, a day before now, may fall after yesterday's noon)
    patient = scene.patient(consented_at=noon - dt.timedelta(days=3))
    third = scene.participant(patient, first_session_at=noon, clinician=scene.clinician)
    kit = services.prepare_kit(
        participant=third,
        session_number=1,
        vials=scene.vials_for(third),
        by=scene.coordinator,
        thawed_at=noon - dt.timedelta(minutes=30),
    )
    services.chart_from_kit(
        participant=third,
        kit_code=kit.code,
        clinician=scene.clinician,
        performed_at=noon,
        procedures=[
            ProcedureInput(
                kind="microneedling", areas=["face"], started_at=noon,
                ended_at=noon + dt.timedelta(minutes=20),
                params={"device": "SkinPen", "needle_depth_mm": 1.0, "passes": 3},
            )
        ],
        applications=[
            services.KitApplicationInput(
                side=side, volume_ml=1, applied_at=noon + dt.timedelta(minutes=25 + n)
            )
            for n, side in enumerate(("face_left", "face_right"))
        ],
    )  # fmt: skip
    record_adverse_event(
        user=scene.clinician, patient=third.patient, term="erythema", side="face_left",
        onset=noon.date() + dt.timedelta(days=1), severity=1, serious=False,
        related_to_procedure="probable", related_to_product="possible",
    )  # fmt: skip
    # enrolled two days before the session (the service stamps the enrolment with now)
    Participant.objects.filter(pk=third.pk).update(enrolled_at=noon - dt.timedelta(days=2))
    third.refresh_from_db()
    services.withdraw_participant(participant=third, by=scene.coordinator, reason="Moved away")
    scene.enrolled.append(third)
    return scene


def _bundle(api, scene, **query):
    response = api.get(f"/studies/{scene.study.pk}/export", {"format": "fhir", **query})
    assert response.status_code == 200, response.content
    text = response.content.decode()
    Bundle.model_validate_json(text)  # R5 validation by fhir.resources
    bundle = json.loads(text)
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert len(urls) == len(bundle["entry"])
    for entry in bundle["entry"]:
        assert set(_references(entry["resource"])) <= urls, entry["resource"]["id"]
    return text, bundle


def _of(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _nothing_identifying(text, scene):
    _no_identity(text, scene)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text), "a real date"
    for participant in scene.enrolled:
        identity = participant.patient.identity
        for value in (identity.given_name, identity.email, identity.phone):
            assert not value or value not in text
        assert str(identity.date_of_birth) not in text


def test_the_fhir_bundle_holds_procedures_products_photos_and_events_resolving_inside_it(api_as, charted):
    scene = charted
    third = scene.enrolled[-1]
    unblinding.unblind_study(study=scene.study, by=scene.pi, reason="Last visit done")
    text, bundle = _bundle(api_as(scene.coordinator), scene)
    _nothing_identifying(text, scene)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {
        *("ResearchStudy", "ResearchSubject", "Patient", "Procedure", "BiologicallyDerivedProduct"),
        *("Medication", "Observation", "AdverseEvent", "DocumentReference"),
    } <= kinds
    procedures = [
        p for p in _of(bundle, "Procedure") if p["subject"]["reference"].endswith(third.pseudonym.lower())
    ]
    assert sorted(p["code"]["text"] for p in procedures) == [
        "microneedling", "product_application", "product_application"
    ]  # fmt: skip
    assert all(p["extension"][0]["valueInteger"] == 2 for p in procedures)  # two days after enrolment
    slot = third.slot
    lots = {"A": scene.exosome_lot, "B": scene.vehicle_lot}
    products = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    for application in (p for p in procedures if p["code"]["text"] == "product_application"):
        (side,) = (site["text"] for site in application["bodySite"])
        product = products[application["used"][0]["reference"]["reference"]]
        arm = slot.arm_left if side == "face_left" else slot.arm_right
        if arm == "A":
            assert product["resourceType"] == "BiologicallyDerivedProduct"
            assert product["identifier"][0]["value"] == lots["A"].number
            assert product["property"][0]["valueCodeableConcept"]["text"] == "umbilical_cord_msc"
        else:
            assert product["resourceType"] == "Medication"
            assert product["batch"]["lotNumber"] == lots["B"].number
    statuses = {s["subject"]["reference"]: s["status"] for s in _of(bundle, "ResearchSubject")}
    assert statuses.pop(f"urn:uuid:patient-p-{third.pseudonym}".lower()) == "retired"
    assert set(statuses.values()) == {"active"}

    photos = _of(bundle, "DocumentReference")
    assert len(photos) == 2 * 2 * 3  # two participants, two cheeks, baseline and two follow-ups
    attachments = [d["content"][0]["attachment"] for d in photos]
    assert all("data" not in a and a["contentType"] == "image/png" and a["size"] > 0 for a in attachments)
    assert {d["type"]["text"] for d in photos} == {"close_up"}
    assert {d["bodySite"][0]["concept"]["text"] for d in photos} == {"cheek_left", "cheek_right"}
    assert {a["title"].split()[0] for a in attachments} == {"baseline", "s1w6", "s3w6"}

    _text, with_images = _bundle(api_as(scene.coordinator), scene, images=1)
    for document in _of(with_images, "DocumentReference"):
        attachment = document["content"][0]["attachment"]
        content = base64.b64decode(attachment["data"])
        assert len(content) == attachment["size"] and content.startswith(b"\x89PNG")
        assert base64.b64decode(attachment["hash"]) == hashlib.sha1(content, usedforsecurity=False).digest()
    assert {d["content"][0]["attachment"]["hash"] for d in _of(with_images, "DocumentReference")} == {
        a["hash"] for a in attachments
    }


def test_a_blinded_fhir_bundle_names_no_product_lot_or_arm(api_as, charted):
    scene = charted
    text, bundle = _bundle(api_as(scene.pi), scene)  # the principal investigator is blinded
    _nothing_identifying(text, scene)
    assert {"Procedure", "DocumentReference", "AdverseEvent"} <= {
        e["resource"]["resourceType"] for e in bundle["entry"]
    }
    assert not _of(bundle, "BiologicallyDerivedProduct") and not _of(bundle, "Medication")
    applications = [p for p in _of(bundle, "Procedure") if p["code"]["text"] == "product_application"]
    assert {a["bodySite"][0]["text"] for a in applications} == {"face_left", "face_right"}
    assert all(not a.get("used") for a in applications)
    for word in (
        scene.exosome_lot.number, scene.vehicle_lot.number, scene.exosome.name, scene.vehicle.name,
        "Exosome serum", "Vehicle", "msc", "split-face-allocation",
    ):  # fmt: skip
        assert word.lower() not in text.lower(), word
