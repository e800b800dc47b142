"""A study's data for the tools of the field, pseudonymised: study pseudonyms only (no names,
codes or contacts), dates as days from enrolment, the arm only once results may be by arm.

Formats: a tidy CSV (one row per participant, side, visit and endpoint); REDCap (data dictionary,
events, instrument designations and records, zipped: one event per visit, adverse events as a
repeating instrument); a FHIR R5 Bundle (JSON: study, subjects, procedures, the applied products
once by arm, observations, adverse events, the photos as DocumentReferences); SPSS ``.sav`` and
Stata ``.dta`` with variable and value labels (pyreadstat).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from exoderm.clinics.models import Role
from exoderm.evidence.selectors import UNITS
from exoderm.photos import storage
from exoderm.products.models import Source
from exoderm.safety.models import Grade, Relatedness, Term
from exoderm.safety.models import Side as EventSide
from exoderm.studies.analysis.data import BASELINE, AppliedProduct, PhotoData, StudyData, study_data
from exoderm.studies.analysis.results import visit_label
from exoderm.studies.analysis.unblinding import by_arm_allowed
from exoderm.studies.models import EndpointKind, Study
from exoderm.studies.selectors import RESULTS_ROLES, STAFF_ROLES
from exoderm.studies.services import require_study_role

if TYPE_CHECKING:
    from exoderm.clinics.models import User

FORMATS = ("csv", "redcap", "fhir", "sav", "dta")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "redcap": "application/zip",
    "fhir": "application/fhir+json",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
}
EXTENSIONS = {"csv": "csv", "redcap": "zip", "fhir": "json", "sav": "sav", "dta": "dta"}

TIDY_COLUMNS = [
    "pseudonym",
    "arm",
    "side",
    "visit",
    "session_number",
    "weeks_after_session",
    "day",
    "endpoint",
    "endpoint_kind",
    "primary",
    "metric",
    "region",
    "value",
    "change",
    "mdc",
]
GAIS_LABELS = {1: "very much improved", 2: "much improved", 3: "improved", 4: "no change", 5: "worse"}
SIDE_SHORT = {"face_left": "l", "face_right": "r", "whole": "w"}


def _visits(data: StudyData) -> list[tuple[int, int]]:
    return [BASELINE, *data.visits]


def tidy_rows(data: StudyData) -> Iterator[dict[str, Any]]:
    """One row per participant, side, visit and endpoint that has a value there."""
    for p in data.participants:
        for endpoint in data.endpoints:
            for side in data.sides:
                for visit in _visits(data):
                    value: float | None = None
                    change = mdc = None
                    if endpoint.kind == EndpointKind.METRIC:
                        measured = p.metrics.get((endpoint.pk, side, visit))
                        if measured is None:
                            continue
                        value, change, mdc = measured.value, measured.change, measured.mdc
                    elif endpoint.kind == EndpointKind.GAIS:
                        scores = p.gais.get((visit, side))
                        if not scores:
                            continue
                        value = sum(scores.values()) / len(scores)
                    else:
                        score = p.satisfaction.get((visit, side))
                        if score is None:
                            continue
                        value = float(score)
                    yield {
                        "pseudonym": p.pseudonym,
                        "arm": p.arms.get(side, ""),
                        "side": side,
                        "visit": visit_label(visit),
                        "session_number": visit[0],
                        "weeks_after_session": visit[1],
                        "day": 0 if visit == BASELINE else p.visit_days.get(visit),
                        "endpoint": endpoint.pk,
                        "endpoint_kind": endpoint.kind,
                        "primary": int(endpoint.primary),
                        "metric": endpoint.metric,
                        "region": endpoint.region,
                        "value": value,
                        "change": change,
                        "mdc": mdc,
                    }


def _csv(header: list[str], rows: Any) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        values = [row.get(c) for c in header] if isinstance(row, dict) else row
        writer.writerow(["" if v is None else v for v in values])
    return out.getvalue()


def tidy_csv(data: StudyData) -> bytes:
    return _csv(TIDY_COLUMNS, tidy_rows(data)).encode("utf-8")


# --- REDCap -----------------------------------------------------------------------------------

REDCAP_DICTIONARY_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


def _choices(pairs: Any) -> str:
    return " | ".join(f"{code}, {label}" for code, label in pairs)


def _field(name: str, form: str, kind: str, label: str, choices: str = "", validation: str = "") -> list[str]:
    row = [""] * len(REDCAP_DICTIONARY_HEADER)
    row[0], row[1], row[3], row[4], row[5], row[7] = name, form, kind, label, choices, validation
    return row


def _redcap_event(visit: tuple[int, int]) -> str:
    return f"{visit_label(visit)}_arm_1"


def _measure_fields(data: StudyData) -> list[tuple[str, str, str, str, str, Any]]:
    """(field name, field type, label, choices, validation, getter(participant, visit))."""
    fields: list[tuple[str, str, str, str, str, Any]] = []
    gais_choices = _choices(GAIS_LABELS.items())
    for endpoint in data.endpoints:
        for side in data.sides:
            short = SIDE_SHORT[side]
            if endpoint.kind == EndpointKind.METRIC:
                for part in ("value", "change"):
                    name = f"ep{endpoint.pk}_{short}_{part}"

                    def getter(p: Any, visit: Any, e: Any = endpoint, s: str = side, what: str = part) -> Any:
                        found = p.metrics.get((e.pk, s, visit))
                        return None if found is None else getattr(found, what)

                    unit = UNITS.get(endpoint.metric, "")
                    label = f"{endpoint.metric} ({unit}) {endpoint.region} {side} {part}"
                    fields.append((name, "text", label, "", "number", getter))
            elif endpoint.kind == EndpointKind.GAIS:
                name = f"ep{endpoint.pk}_{short}_gais"

                def gais(p: Any, visit: Any, s: str = side) -> Any:
                    scores = p.gais.get((visit, s))
                    return None if not scores else round(sum(scores.values()) / len(scores))

                fields.append(
                    (name, "dropdown", f"GAIS {side} (mean of the raters, rounded)", gais_choices, "", gais)
                )
            else:
                name = f"ep{endpoint.pk}_{short}_satis"

                def satisfaction(p: Any, visit: Any, s: str = side) -> Any:
                    return p.satisfaction.get((visit, s))

                fields.append(
                    (
                        name,
                        "dropdown",
                        f"Satisfaction {side}",
                        _choices((n, str(n)) for n in range(1, 6)),
                        "",
                        satisfaction,
                    )
                )
    return fields


def redcap_files(data: StudyData) -> dict[str, str]:
    """The data dictionary, the events, the instrument designations and the records (flat CSV
    as REDCap's data import takes it)."""
    enrolment = [
        _field("record_id", "enrolment", "text", "Study pseudonym"),
        _field(
            "age_band",
            "enrolment",
            "dropdown",
            "Age band at enrolment",
            _choices((n, f"{n * 10}-{n * 10 + 9}") for n in range(11)),
        ),
        _field(
            "fitzpatrick",
            "enrolment",
            "dropdown",
            "Fitzpatrick skin type",
            _choices((n, str(n)) for n in range(1, 7)),
        ),
        _field("status", "enrolment", "dropdown", "Status", "1, enrolled | 2, withdrawn | 3, completed"),
        _field(
            "withdrawn_day", "enrolment", "text", "Withdrawn on day (from enrolment)", validation="integer"
        ),
    ]
    if data.by_arm:
        enrolment += [_field(f"arm_{SIDE_SHORT[s]}", "enrolment", "text", f"Arm ({s})") for s in data.sides]
    measures = [_field("visit_day", "visit_measures", "text", "Day from enrolment", validation="integer")]
    measure_fields = _measure_fields(data)
    measures += [_field(n, "visit_measures", t, label, c, v) for n, t, label, c, v, _get in measure_fields]
    terms = list(Term.values)
    relatedness = list(Relatedness.values)
    sides = list(EventSide.values)
    adverse = [
        _field(
            "ae_term", "adverse_events", "dropdown", "Term", _choices((i, t) for i, t in enumerate(terms, 1))
        ),
        _field(
            "ae_grade", "adverse_events", "dropdown", "CTCAE grade", _choices((g, g) for g in Grade.values)
        ),
        _field("ae_serious", "adverse_events", "yesno", "Serious"),
        _field(
            "ae_related_product",
            "adverse_events",
            "dropdown",
            "Related to the product",
            _choices((i, r) for i, r in enumerate(relatedness, 1)),
        ),
        _field(
            "ae_side", "adverse_events", "dropdown", "Side", _choices((i, s) for i, s in enumerate(sides, 1))
        ),
        _field("ae_onset_day", "adverse_events", "text", "Onset day (from enrolment)", validation="integer"),
        _field(
            "ae_resolved_day", "adverse_events", "text", "Resolved day (from enrolment)", validation="integer"
        ),
    ]
    dictionary = _csv(REDCAP_DICTIONARY_HEADER, enrolment + measures + adverse)
    visits = _visits(data)
    events = _csv(
        ["event_name", "arm_num", "unique_event_name"],
        [[visit_label(v), 1, _redcap_event(v)] for v in visits],
    )
    designations = [[1, _redcap_event(BASELINE), "enrolment"]]
    designations += [[1, _redcap_event(v), "visit_measures"] for v in visits]
    designations += [[1, _redcap_event(BASELINE), "adverse_events"]]
    mapping = _csv(["arm_num", "unique_event_name", "form"], designations)
    columns = [row[0] for row in enrolment + measures + adverse]
    header = [
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        *columns[1:],
    ]
    records: list[dict[str, Any]] = []
    status_codes = {"enrolled": 1, "withdrawn": 2, "completed": 3}
    for p in data.participants:
        base: dict[str, Any] = {
            "record_id": p.pseudonym,
            "redcap_event_name": _redcap_event(BASELINE),
            "age_band": None if p.age_band is None else int(p.age_band.split("-")[0]) // 10,
            "fitzpatrick": p.fitzpatrick,
            "status": status_codes.get(p.status),
            "withdrawn_day": p.withdrawn_day,
        }
        for side in data.sides if data.by_arm else []:
            base[f"arm_{SIDE_SHORT[side]}"] = p.arms.get(side, "")
        for visit in visits:
            row: dict[str, Any] = (
                base
                if visit == BASELINE
                else {"record_id": p.pseudonym, "redcap_event_name": _redcap_event(visit)}
            )
            row["visit_day"] = 0 if visit == BASELINE else p.visit_days.get(visit)
            for name, _kind, _label, _choices_text, _validation, getter in measure_fields:
                row[name] = getter(p, visit)
            records.append(row)
        for instance, event in enumerate(
            (e for e in data.adverse_events if e.pseudonym == p.pseudonym), start=1
        ):
            records.append(
                {
                    "record_id": p.pseudonym,
                    "redcap_event_name": _redcap_event(BASELINE),
                    "redcap_repeat_instrument": "adverse_events",
                    "redcap_repeat_instance": instance,
                    "ae_term": terms.index(event.term) + 1,
                    "ae_grade": event.grade,
                    "ae_serious": int(event.serious),
                    "ae_related_product": relatedness.index(event.related_to_product) + 1
                    if event.related_to_product in relatedness
                    else None,
                    "ae_side": sides.index(event.side) + 1 if event.side in sides else None,
                    "ae_onset_day": event.onset_day,
                    "ae_resolved_day": event.resolved_day,
                }
            )
    records_csv = _csv(header, [{c: r.get(c) for c in header} for r in records])
    return {
        "data_dictionary.csv": dictionary,
        "events.csv": events,
        "instrument_designations.csv": mapping,
        "records.csv": records_csv,
    }


def redcap_zip(data: StudyData) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in redcap_files(data).items():
            archive.writestr(name, text)
    return out.getvalue()


# --- FHIR R5 ----------------------------------------------------------------------------------

#: UCUM codes of skinlab's units where UCUM has one (L*a*b* units have none: unit text only).
UCUM = {
    "%": "%",
    "count": "{count}",
    "mm²": "mm2",
    "mm": "mm",
    "°": "deg",
    "mm/cm²": "mm/cm2",
    "1/cm²": "/cm2",
}
DAY_EXTENSION = "https://exoderm.org/fhir/StructureDefinition/days-from-enrolment"
METRIC_SYSTEM = "https://exoderm.org/fhir/CodeSystem/skinlab-metric"
SPLIT_FACE_EXTENSION = "https://exoderm.org/fhir/StructureDefinition/split-face-allocation"
SESSION_EXTENSION = "https://exoderm.org/fhir/StructureDefinition/course-session-number"
PSEUDONYM_SYSTEM = "https://exoderm.org/fhir/NamingSystem/study-pseudonym"
PROCEDURE_SYSTEM = "https://exoderm.org/fhir/CodeSystem/procedure"
#: The code of applying a study product to a half (or the whole) of the face after the procedure.
APPLICATION_CODE = "product_application"
PHOTO_VIEW_SYSTEM = "https://exoderm.org/fhir/CodeSystem/photo-view"
PRODUCT_SOURCE_SYSTEM = "https://exoderm.org/fhir/CodeSystem/product-source"
LOT_SYSTEM = "https://exoderm.org/fhir/NamingSystem/lot-number"
BDP_CATEGORY_SYSTEM = "http://hl7.org/fhir/product-category"
#: Sources whose products are biologically derived (exosomes of stem cells): a
#: BiologicallyDerivedProduct; other products (a vehicle) are Medications.
STEM_CELL_SOURCES = {Source.ADIPOSE_MSC, Source.UMBILICAL_CORD_MSC, Source.BONE_MARROW_MSC}


def _day(day: int | None) -> list[dict[str, Any]]:
    return [] if day is None else [{"url": DAY_EXTENSION, "valueInteger": day}]


def _assignment(arms: dict[str, str]) -> dict[str, Any]:
    """A participant's arm: the comparison group of a parallel or single-arm study; a split-face
    participant is in both groups, one per half, so the halves go into an extension."""
    if not arms:
        return {}
    if set(arms) == {"whole"}:
        return {"assignedComparisonGroup": arms["whole"]}
    halves = " ".join(f"{side}:{arm}" for side, arm in sorted(arms.items()))
    return {"extension": [{"url": SPLIT_FACE_EXTENSION, "valueString": halves}]}


def _coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}], "text": code}


def _product_resource(application: AppliedProduct, resource_id: str) -> dict[str, Any]:
    """A stem-cell-derived product as a BiologicallyDerivedProduct (its lot the identifier, its
    cell source a property); anything else (a vehicle) as a Medication with its batch."""
    if application.source in STEM_CELL_SOURCES:
        return {
            "resourceType": "BiologicallyDerivedProduct",
            "id": resource_id,
            "productCategory": {"system": BDP_CATEGORY_SYSTEM, "code": "biologicalAgent"},
            "productCode": {"text": application.product},
            "identifier": [{"system": LOT_SYSTEM, "value": application.lot}],
            "property": [
                {
                    "type": {"text": "cell source"},
                    "valueCodeableConcept": _coded(PRODUCT_SOURCE_SYSTEM, application.source),
                }
            ],
        }
    return {
        "resourceType": "Medication",
        "id": resource_id,
        "code": {"text": application.product},
        "batch": {"lotNumber": application.lot},
    }


def _attachment(photo: PhotoData, *, images: bool) -> dict[str, Any]:
    """The photo's attachment: content type, size, SHA-1 (base64, as FHIR's Attachment.hash) and
    a title; the image itself (base64) only when ``images`` is asked for."""
    content = storage.read(photo.file_name)
    attachment: dict[str, Any] = {
        "contentType": photo.content_type,
        "size": photo.size,
        # FHIR defines Attachment.hash as SHA-1: an identity check of the file, not a security one
        "hash": base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest()).decode("ascii"),
        "title": " ".join(filter(None, (visit_label(photo.visit), photo.view, photo.area))),
    }
    if images:
        attachment["data"] = base64.b64encode(content).decode("ascii")
    return attachment


def fhir_bundle(data: StudyData, *, images: bool = False) -> dict[str, Any]:
    """A FHIR R5 Bundle (collection): the ResearchStudy, a pseudonymous Patient and a
    ResearchSubject per participant, a Procedure per charted procedure and per application of each
    session (with the applied product as BiologicallyDerivedProduct or Medication once the data
    may be by arm: before that the products and lots would tell which half got which arm), an
    Observation per metric value and GAIS score, each AdverseEvent, and a DocumentReference per
    photo (without the image unless ``images``). Times are days from enrolment (an extension),
    never dates."""
    study = data.study
    entries: list[dict[str, Any]] = []
    study_reference = {"reference": f"urn:uuid:researchstudy-study-{study.pk}"}

    def add(resource: dict[str, Any]) -> dict[str, str]:
        url = f"urn:uuid:{resource['resourceType'].lower()}-{resource['id']}"
        entries.append({"fullUrl": url, "resource": resource})
        return {"reference": url}

    add(
        {
            "resourceType": "ResearchStudy",
            "id": f"study-{study.pk}",
            "status": "active",
            "title": study.title,
            "identifier": [{"value": study.registry_id}] if study.registry_id else [],
            "comparisonGroup": [
                {"linkId": code, "name": code, "description": name}
                for code, name in sorted(data.arm_names.items())
            ],
        }
    )
    products: dict[tuple[str, str], dict[str, str]] = {}
    for p in data.participants:
        patient_id = f"p-{p.pseudonym}".lower()
        patient = add(
            {
                "resourceType": "Patient",
                "id": patient_id,
                "identifier": [{"system": PSEUDONYM_SYSTEM, "value": p.pseudonym}],
            }
        )
        add(
            {
                "resourceType": "ResearchSubject",
                "id": f"s-{p.pseudonym}".lower(),
                "status": "active" if p.status != "withdrawn" else "retired",
                "study": study_reference,
                "subject": patient,
                **_assignment(p.arms),
            }
        )
        for session in p.sessions:
            session_extension = [
                *_day(session.day),
                {"url": SESSION_EXTENSION, "valueInteger": session.number},
            ]
            for number, (kind, areas) in enumerate(session.procedures):
                add(
                    {
                        "resourceType": "Procedure",
                        "id": f"pr-{p.pseudonym}-{session.number}-{number}".lower(),
                        "status": "completed",
                        "code": _coded(PROCEDURE_SYSTEM, kind),
                        "subject": patient,
                        "bodySite": [{"text": area} for area in areas],
                        "extension": session_extension,
                    }
                )
            for number, application in enumerate(session.applications):
                used = []
                if application.product:
                    key = (application.product, application.lot)
                    if key not in products:
                        products[key] = add(_product_resource(application, f"product-{len(products) + 1}"))
                    used = [{"reference": products[key]}]
                add(
                    {
                        "resourceType": "Procedure",
                        "id": f"ap-{p.pseudonym}-{session.number}-{number}".lower(),
                        "status": "completed",
                        "code": _coded(PROCEDURE_SYSTEM, APPLICATION_CODE),
                        "subject": patient,
                        "bodySite": [{"text": application.side}],
                        "used": used,
                        "note": [{"text": f"{application.volume_ml:g} ml"}],
                        "extension": session_extension,
                    }
                )
        for number, row in enumerate(r for r in tidy_rows(data) if r["pseudonym"] == p.pseudonym):
            if row["value"] is None:
                continue
            if row["endpoint_kind"] == EndpointKind.METRIC:
                unit = UNITS.get(row["metric"], "")
                quantity: dict[str, Any] = {"value": row["value"], "unit": unit}
                if unit in UCUM:
                    quantity |= {"system": "http://unitsofmeasure.org", "code": UCUM[unit]}
                code = _coded(METRIC_SYSTEM, row["metric"])
                value: dict[str, Any] = {"valueQuantity": quantity}
            else:
                code = {"text": row["endpoint_kind"]}
                value = {"valueQuantity": {"value": row["value"], "unit": "score"}}
            add(
                {
                    "resourceType": "Observation",
                    "id": f"o-{p.pseudonym}-{number}".lower(),
                    "status": "final",
                    "code": code,
                    "subject": patient,
                    "bodySite": {"text": f"{row['region'] or row['side']}"},
                    "extension": _day(row["day"]),
                    **value,
                }
            )
        for number, photo in enumerate(p.photos):
            add(
                {
                    "resourceType": "DocumentReference",
                    "id": f"doc-{p.pseudonym}-{number}".lower(),
                    "status": "current",
                    "type": _coded(PHOTO_VIEW_SYSTEM, photo.view),
                    "subject": patient,
                    "bodySite": [{"concept": {"text": photo.area}}] if photo.area else [],
                    "content": [{"attachment": _attachment(photo, images=images)}],
                    "extension": _day(photo.day),
                }
            )
    for number, event in enumerate(data.adverse_events):
        add(
            {
                "resourceType": "AdverseEvent",
                "id": f"ae-{number}",
                "status": "completed",
                "actuality": "actual",
                "code": {"text": event.term},
                "subject": {"reference": f"urn:uuid:patient-p-{event.pseudonym}".lower()},
                "study": [study_reference],
                "seriousness": {"text": "serious" if event.serious else "non-serious"},
                "extension": _day(event.onset_day),
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# --- SPSS and Stata ---------------------------------------------------------------------------


def _wide_frame(data: StudyData) -> tuple[Any, dict[str, str], dict[str, dict[Any, str]]]:
    """One row per participant, side and visit: pseudonym, arm, side, visit, day and each
    endpoint's value, with variable labels and value labels (GAIS, satisfaction, side)."""
    import pandas as pd

    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    labels = {
        "pseudonym": "Study pseudonym",
        "arm": "Arm",
        "side": "Side (1 left, 2 right, 3 whole)",
        "visit": "Visit",
        "day": "Day from enrolment",
    }
    value_labels: dict[str, dict[Any, str]] = {"side": {1: "face_left", 2: "face_right", 3: "whole"}}
    side_codes = {"face_left": 1, "face_right": 2, "whole": 3}
    for row in tidy_rows(data):
        key = (row["pseudonym"], row["side"], row["visit"])
        target = rows.setdefault(
            key,
            {
                "pseudonym": row["pseudonym"],
                "arm": row["arm"],
                "side": side_codes[row["side"]],
                "visit": row["visit"],
                "day": row["day"],
            },
        )
        name = f"ep{row['endpoint']}"
        target[name] = row["value"]
        if row["endpoint_kind"] == EndpointKind.METRIC:
            target[f"{name}_chg"] = row["change"]
            labels[name] = f"{row['metric']} {row['region']}"[:80]
            labels[f"{name}_chg"] = f"change of {row['metric']} from baseline"[:80]
        elif row["endpoint_kind"] == EndpointKind.GAIS:
            labels[name] = "GAIS, mean of the raters (1 very much improved - 5 worse)"
            value_labels[name] = {float(k): v for k, v in GAIS_LABELS.items()}
        else:
            labels[name] = "Satisfaction (1 very dissatisfied - 5 very satisfied)"
    frame = pd.DataFrame(list(rows.values()))
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in ("pseudonym", "arm", "visit")})
    for column in frame.columns:
        if column.startswith("ep") or column == "day":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    labels = {k: v for k, v in labels.items() if k in frame.columns}
    value_labels = {k: v for k, v in value_labels.items() if k in frame.columns}
    return frame, labels, value_labels


def statistics_file(data: StudyData, kind: str) -> bytes:
    """The study as SPSS ``.sav`` (``kind`` "sav") or Stata ``.dta`` ("dta"), with labels."""
    import pyreadstat

    frame, labels, value_labels = _wide_frame(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"study.{kind}"
        column_labels = [labels.get(c, c) for c in frame.columns]
        if kind == "sav":
            pyreadstat.write_sav(
                frame, str(path), column_labels=column_labels, variable_value_labels=value_labels
            )
        else:
            # Stata labels integer values only: GAIS means are not whole numbers, so they keep
            # their variable label and the side its value labels.
            stata_values: dict[str, dict[int | float, str]] = {
                k: {int(c): t for c, t in v.items()} for k, v in value_labels.items() if k == "side"
            }
            pyreadstat.write_dta(
                frame, str(path), column_labels=column_labels, variable_value_labels=stata_values
            )
        return path.read_bytes()


def export_for(*, study: Study, user: User, kind: str, images: bool = False) -> bytes:
    """The study's data in format ``kind`` (one of :data:`FORMATS`) for the study's staff roles,
    its statistician and clinic administrators; by arm only once results may be by arm. ``images``
    puts the photos' bytes into the FHIR Bundle: not for the statistician (a researcher sees no
    identified record, and a face is one)."""
    roles = require_study_role(user, study, RESULTS_ROLES, clinic_admin=True)
    if images and not (roles & STAFF_ROLES or user.role == Role.CLINIC_ADMIN):
        raise PermissionDenied(
            _("The photos stay with the study's staff: the statistician exports the data without images.")
        )
    return export(study_data(study=study, by_arm=by_arm_allowed(study)), kind, images=images)


def export(data: StudyData, kind: str, *, images: bool = False) -> bytes:
    if kind == "csv":
        return tidy_csv(data)
    if kind == "redcap":
        return redcap_zip(data)
    if kind == "fhir":
        bundle = fhir_bundle(data, images=images)
        return json.dumps(bundle, ensure_ascii=False, default=str).encode("utf-8")
    return statistics_file(data, kind)
