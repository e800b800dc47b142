"""Generated from the URLconf: every route that shows patient data leaves an audit event.

Every route of ``exoderm.urls`` (the pages and django-ninja's API routes alike) must be either in
``exoderm.audit.reads.READS`` or in ``NO_PATIENT_DATA``; a route in neither fails here, so a route
added later cannot slip through unrecorded. Each route in ``READS`` is then called, as a user its
role allows, on a small real data set (a patient with consent, screening, a session, a course, an
analysed photo, a lot, a calendar feed), and must answer 2xx and leave a read or export event.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from exoderm import skinlab
from exoderm.audit.models import AuditEvent
from exoderm.audit.reads import NO_PATIENT_DATA, NO_PATIENT_DATA_PREFIXES, READS
from exoderm.consent.models import ConsentKind
from tests import factories
from tests.photos._images import MM_PER_PX, phantom_png
from tests.signin import login_with_mfa


def routes(patterns=None, prefix: str = "") -> list[str]:
    """Every route of the URLconf as ``request.resolver_match.route`` names it, in order, once."""
    found: list[str] = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            found += routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            found.append(prefix + str(pattern.pattern))
    return list(dict.fromkeys(found))


def test_every_route_is_either_recorded_or_declared_free_of_patient_data():
    unclassified = [
        route
        for route in routes()
        if route not in READS
        and route not in NO_PATIENT_DATA
        and not route.startswith(NO_PATIENT_DATA_PREFIXES)
    ]
    assert unclassified == [], "classify these routes in exoderm/audit/reads.py"
    both = set(READS) & set(NO_PATIENT_DATA)
    assert both == set()
    stale = (set(READS) | set(NO_PATIENT_DATA)) - set(routes())
    assert stale == set(), "routes in the table that no longer exist"


def test_the_admin_site_shows_no_patient_data():
    """The admin routes are declared free of patient data: no exoderm model is registered there."""
    registered = [model._meta.app_config.name for model in admin.site._registry]
    assert [name for name in registered if name.startswith("exoderm.")] == []


@pytest.fixture
def world(clinic, clinic_admin, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    from exoderm.courses.services import enroll, issue_calendar_feed
    from exoderm.photos.services import trash_photo, upload_photo
    from exoderm.products.services import recall_lot

    settings.MEDIA_ROOT = tmp_path / "media"
    study = tmp_path / "repeatability.json"
    study.write_text(
        json.dumps(
            {"engine_version": skinlab.ENGINE_VERSION, "metrics": {"spot_count": {"sem": 1, "mdc": 3}}}
        )
    )
    monkeypatch.setattr(importlib.import_module("exoderm.skinlab.compare"), "REPEATABILITY_PATH", study)

    scene = factories.SessionScene(clinic)
    session = scene.record()
    photography = factories.ConsentTemplateFactory(clinic=clinic, kind=ConsentKind.PHOTOGRAPHY, version=1)
    factories.ConsentRecordFactory(patient=scene.patient, template=photography, recorded_by=scene.clinician)
    with django_capture_on_commit_callbacks(execute=True):
        photo, _created = upload_photo(
            patient=scene.patient,
            chunks=[phantom_png(1)],
            view="close_up",
            area="cheek_left",
            timepoint="baseline",
            mm_per_px=MM_PER_PX,
            by=scene.clinician,
        )
        trashed, _created = upload_photo(
            patient=scene.patient,
            chunks=[phantom_png(2)],
            view="close_up",
            area="cheek_left",
            timepoint="follow_up",
            mm_per_px=MM_PER_PX,
            by=scene.clinician,
        )
    trash_photo(photo=trashed, reason="failed_capture", by=scene.clinician)
    recall_lot(lot=scene.lot, reason="supplier recall", by=scene.clinician)
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0, interval=0)
    course = enroll(
        patient=scene.patient,
        template=factories.CourseTemplateFactory(clinic=clinic),
        clinician=scene.clinician,
        starts_at=timezone.now().replace(second=0, microsecond=0) + dt.timedelta(days=1),
        by=scene.clinician,
    )
    return {
        "clinician": scene.clinician,
        "admin": clinic_admin,
        "researcher": factories.UserFactory(clinic=clinic, role="researcher"),
        "restricted": _restricted_patient(clinic, clinic_admin),
        "answer": factories.ScreeningAnswerFactory(patient=scene.patient).pk,
        "patient": scene.patient.pk,
        "consent": scene.consent.pk,
        "session": session.pk,
        "lot": scene.lot.pk,
        "photo": photo.pk,
        "trashed": trashed.pk,
        "visit": course.visits.order_by("planned_at").first().pk,
        "feed": issue_calendar_feed(user=scene.clinician),
        "adverse_event": _adverse_event(scene.patient, scene.clinician),
        **_study_world(clinic, scene.patient, photo=photo, visit=course.visits.earliest("planned_at")),
        "message": _message(scene.patient),
        "appointment": course.visits.order_by("planned_at").first().appointments.get().pk,
        "appointment_action": "cancel",
    }


def _study_world(clinic, patient, *, photo, visit) -> dict:
    """A split-face study the patient takes part in, with a kit, a rating task and its photo."""
    from exoderm.studies import services
    from exoderm.studies.models import RatingImage, RatingTask

    scene = factories.SplitFaceStudyScene(clinic, raters=1)
    factories.give_research_consent(patient)
    participant = scene.participant(patient)
    kit = services.prepare_kit(
        participant=participant, session_number=1, vials=scene.vials_for(participant), by=scene.coordinator
    )
    task = RatingTask.objects.create(
        study=scene.study, participant=participant, visit=visit, order_key="0", created_at=timezone.now()
    )
    image = RatingImage.objects.create(
        task=task, side="face_left", timepoint="baseline", photo=photo, token="rating-image-token"
    )
    return {
        "coordinator": scene.coordinator,
        "rater": scene.raters[0],
        "study": scene.study.pk,
        "participant": participant.pk,
        "kit": kit.code,
        "rating_image": image.token,
        "task": task.pk,
    }


def _adverse_event(patient, clinician) -> int:
    from exoderm.patients.selectors import clinic_today
    from exoderm.safety.services import record_adverse_event

    event = record_adverse_event(
        user=clinician, patient=patient, term="erythema", onset=clinic_today(patient.clinic), severity=1,
        serious=False, related_to_procedure="probable", related_to_product="unlikely",
    )  # fmt: skip
    return event.pk


def _message(patient) -> int:
    """A reminder in the outbox (exoderm.messaging), for the routes that show one message."""
    from exoderm.messaging.services import queue_for_patient

    return queue_for_patient(patient=patient, kind="visit_reminder", about="audit", at=timezone.now())[0].pk


def _restricted_patient(clinic, admin) -> int:
    """A patient whose erasure request restricted the record (only the admin reads it, with a reason)."""
    from exoderm.patients.erasure import request_erasure

    patient = factories.PatientFactory(clinic=clinic)
    request_erasure(patient=patient, by=admin, received_on=timezone.localdate(), erase_photos=True)
    return patient.pk


# What each URL kwarg names: by name, and for the pages' plain <pk> by the route's first segment.
KWARGS = {
    "patient_id": "patient",
    "consent_pk": "consent",
    "photo_id": "photo",
    "before_id": "photo",
    "after_id": "photo",
    "session_id": "session",
    "visit_id": "visit",
    "lot_id": "lot",
    "token": "feed",
    "answer_pk": "answer",
    "answer_id": "answer",
    "consent_id": "consent",
    "event_id": "adverse_event",
    "study_id": "study",
    "participant_id": "participant",
    "code": "kit",
    "participant_pk": "participant",
    "task_pk": "task",
    "message_id": "message",
    "appointment_id": "appointment",
}
PK_OF = {
    "patients": "patient",
    "sessions": "session",
    "lots": "lot",
    "visits": "visit",
    "audit/patient": "patient",
    "adverse-events": "adverse_event",
    "studies": "study",
    "booking/appointments": "appointment",
    "messages": "message",
}
# Routes that need another object than the kwarg's usual one: erasing is asked for photos in the trash.
ROUTE_KWARGS = {
    "photos/<id:photo_id>/erase": {"photo_id": "trashed"},
    "patients/<id:pk>/unlock/": {"pk": "restricted"},
    "api/v1/studies/<study_id>/rating-images/<token>": {"token": "rating_image"},
    "studies/<id:pk>/images/<str:token>": {"token": "rating_image"},
    "booking/appointments/<id:pk>/<slug:action>/": {"action": "appointment_action"},
}
QUERIES = {
    "api/v1/photos/timeline": {"metric": "spot_count", "view": "close_up"},
    "api/v1/photos/compare": {"before": "photo", "after": "photo"},
    "today/visits/": {"visit": "visit"},
}


# Who may call a route, by its start (everything else: a clinician).
ROLES = {
    "admin": ("audit/", "api/v1/audit", "patients/<id:pk>/erasure/", "patients/<id:pk>/unlock/"),
    "researcher": ("study/", "api/v1/study/"),
    "rater": ("api/v1/studies/<study_id>/rating-tasks", "studies/<id:pk>/rate/", "studies/<id:pk>/images/"),
    "coordinator": ("api/v1/studies/", "studies/"),
    "clinician": (),
}


def url_of(route: str, world: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1).split(":")[-1]
        if name in ROUTE_KWARGS.get(route, {}):
            return str(world[ROUTE_KWARGS[route][name]])
        if name == "pk":
            if route.startswith("audit/user/"):
                return str(world["clinician"].pk)
            return str(world[next(v for k, v in PK_OF.items() if route.startswith(k + "/"))])
        if name == "action":
            return "reschedule"
        return str(world[ROUTE_KWARGS.get(route, {}).get(name) or KWARGS[name]])

    return "/" + re.sub(r"<([^>]+)>", value, route)


def query_of(route: str, world: dict) -> dict[str, str]:
    rule = READS[route]
    query = {rule.key: str(world["patient"])} if rule.in_query else {}
    for name, value in QUERIES.get(route, {}).items():
        query[name] = str(world[value]) if value in world else value
    return query


@pytest.mark.django_db(transaction=True)
def test_every_route_that_shows_patient_data_leaves_an_event(client, api_as, world):
    clients = {role: api_as(world[role]) for role in ROLES}
    problems = []
    for route, rule in READS.items():
        role = next((role for role, prefixes in ROLES.items() if route.startswith(prefixes)), "clinician")
        url, query = url_of(route, world), query_of(route, world)
        before = AuditEvent.objects.filter(route="/" + route).count()
        if route.startswith("api/"):
            response = clients[role].get(url, query)
        else:
            login_with_mfa(client, world[role])
            response = client.get(url, query)
        recorded = AuditEvent.objects.filter(route="/" + route, action=rule.action)
        if not 200 <= response.status_code < 300:
            problems.append(f"{route}: {url} answered {response.status_code}")
        elif recorded.count() != before + 1:
            problems.append(f"{route}: {url} left {recorded.count() - before} events")
        elif (
            rule.patient is not None
            and recorded.last().patient_id
            != world["restricted" if route == "patients/<id:pk>/unlock/" else "patient"]
        ):
            problems.append(f"{route}: the event names patient {recorded.last().patient_id}")
    assert problems == [], "\n".join(problems)


@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_as_channel_worker(world):
    from exoderm.photos.models import Analysis

    analysis = Analysis.objects.get(photo_id=world["photo"])
    [created] = AuditEvent.objects.filter(
        object_type="photos.analysis", object_id=str(analysis.pk), action="create"
    )
    assert created.channel == "worker"
    assert created.username == "task analyse_photo"
    assert created.patient_id == world["patient"]
