"""The study pages: defining a study with Park et al.'s defaults, enrolment with its refusals, the
coordinator's page, the unblinded coordinator's kits, the rater's queue, and blinding: no page a
blinded role receives names an arm, a product or a lot behind the allocation."""

from __future__ import annotations

import datetime as dt
import io
import re
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from exoderm.consent.models import ConsentKind
from exoderm.courses.models import CourseTemplate
from exoderm.safety.models import AdverseEvent
from exoderm.studies.models import (
    Deviation,
    Kit,
    Participant,
    Rating,
    Satisfaction,
    ScreenFailure,
    Study,
    StudyRole,
    Unblinding,
)
from exoderm.studies.page_selectors import rating_sides
from tests import factories
from tests.photos.conftest import media_root  # noqa: F401 (fixture)
from tests.signin import login_with_mfa
from tests.web.conftest import wall

#: What would tell the allocation: the arms' codes and names, their products and lots.
ARM_WORDS = (
    "A",
    "B",
    "Exosome serum",
    "Vehicle",
    "ExoSerum ADSC",
    "Saline vehicle",
    "EXO-2026-117",
    "VEH-2026-044",
)


@pytest.fixture
def scene(clinic):
    from exoderm.studies.services import CriterionInput

    return factories.SplitFaceStudyScene(
        clinic,
        criteria=[
            CriterionInput(kind="inclusion", subject="age", min_value=18, max_value=70),
            CriterionInput(kind="exclusion", subject="screening", screening_item="pregnancy"),
        ],
    )


def with_rating_task(scene):
    """A participant whose course began 14 weeks ago, with a baseline and a week-6-after-session-3
    close-up of each cheek (phantoms), and the rating task the service makes from them."""
    from exoderm.courses.models import Visit
    from exoderm.photos.services import upload_photo
    from exoderm.studies import services
    from tests.photos._images import MM_PER_PX, phantom_png

    start = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(weeks=14)
    participant = scene.participant(first_session_at=start, clinician=scene.clinician)
    photography = factories.ConsentTemplateFactory(clinic=scene.clinic, kind=ConsentKind.PHOTOGRAPHY)
    factories.ConsentRecordFactory(
        patient=participant.patient, template=photography, signed_at=start - dt.timedelta(days=2)
    )
    visit = Visit.objects.get(course=participant.course, kind="follow_up", session_number=3)
    for seed, area in ((1, "cheek_left"), (2, "cheek_right")):
        upload_photo(
            patient=participant.patient, chunks=[phantom_png(seed)], view="close_up", area=area,
            timepoint="baseline", taken_at=start - dt.timedelta(hours=1), mm_per_px=MM_PER_PX,
            by=scene.clinician,
        )  # fmt: skip
        upload_photo(
            patient=participant.patient, chunks=[phantom_png(seed + 10)], view="close_up", area=area,
            timepoint="follow_up", visit=visit, taken_at=visit.planned_at, mm_per_px=MM_PER_PX,
            by=scene.clinician,
        )  # fmt: skip
    services.prepare_rating_tasks(study=scene.study, by=scene.pi)
    return participant, participant.rating_tasks.get()


def study_pages(scene, participant, task) -> list[str]:
    """Every study page a user might open, for the blinding checks."""
    pk = scene.study.pk
    return [
        reverse("studies"),
        reverse("study", args=[pk]),
        reverse("study-enrol", args=[pk]),
        reverse("study-deviation-new", args=[pk]),
        reverse("study-adverse-event-new", args=[pk]),
        reverse("study-withdraw", args=[pk, participant.pk]),
        reverse("study-unblind", args=[pk, participant.pk]),
        reverse("study-satisfaction", args=[pk, participant.pk]),
        reverse("study-chart", args=[pk, participant.pk]),
        reverse("study-allocation", args=[pk]),
        reverse("study-allocation-participant", args=[pk, participant.pk]),
        reverse("study-rate", args=[pk]),
        reverse("study-rate-task", args=[pk, task.pk]),
    ]


def expected_status(user, url: str, scene) -> int:
    """What a blinded user gets: the rater the queue and the task, the treating clinician the
    coordinator's page and its forms; neither the allocation pages, the clinician no enrolment."""
    if user in scene.raters:
        if "/rate/" in url or url == reverse("studies"):
            return 200
        return 302 if url == reverse("study", args=[scene.study.pk]) else 403
    return 403 if "/allocation/" in url or "/rate/" in url or "/enrol/" in url else 200


def next_week() -> str:
    return (timezone.localtime() + dt.timedelta(days=7)).strftime("%Y-%m-%dT10:00")


def words_in(html: str, words) -> list[str]:
    return [word for word in words if re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", html)]


@pytest.mark.django_db
def test_a_new_study_starts_from_park_et_al_and_its_author_is_its_investigator(client, clinic):
    admin = factories.UserFactory(clinic=clinic, role="clinic_admin")
    exosomes = factories.ProductFactory(clinic=clinic, name="ExoCord")
    saline = factories.ProductFactory(clinic=clinic, name="Saline")
    login_with_mfa(client, admin)
    form = client.get(reverse("study-new")).context["form"]
    assert (form["design"].initial, form["blinding"].initial) == ("split_face", "double_blind")
    assert (
        form["session_count"].initial,
        form["interval_weeks"].initial,
        form["followup_weeks"].initial,
    ) == (
        3,
        3,
        6,
    )
    assert (
        form["primary_kind"].initial,
        form["endpoint_session"].initial,
        form["endpoint_weeks"].initial,
    ) == (
        "gais",
        3,
        6,
    )
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update(
        title="Park replication",
        arm_a_product=exosomes.pk,
        arm_b_product=saline.pk,
        course_template="",
        satisfaction="on",
    )
    response = client.post(reverse("study-new"), data)
    study = Study.objects.get(title="Park replication")
    assert response.status_code == 302 and response["Location"] == reverse("study", args=[study.pk])
    template = study.course_template
    assert (template.session_count, template.interval_weeks, template.followup_weeks) == (3, 3, [6])
    primary = study.endpoints.get(primary=True)
    assert (primary.kind, primary.session_number, primary.weeks_after_session) == ("gais", 3, 6)
    assert set(study.endpoints.filter(kind="metric").values_list("metric", flat=True)) == {
        "wrinkle_density",
        "spot_area_pct",
        "tone_sd_L",
        "red_area_pct",
    }
    assert [(a.code, a.product_id) for a in study.arms.all()] == [("A", exosomes.pk), ("B", saline.pk)]
    assert StudyRole.objects.filter(study=study, user=admin, role="principal_investigator").exists()
    page = client.get(reverse("study", args=[study.pk])).content.decode()
    assert "Park replication" in page and "ExoCord" in page  # an investigator sees the arms
    # the endpoints' region by its name, not the analysis' code ("cheek_left")
    assert "(Cheek, left)" in page and "(cheek_left)" not in page
    assert client.get(reverse("studies")).content.decode().count("Park replication") == 1


@pytest.mark.django_db
def test_a_refused_definition_leaves_no_course_behind(client, clinic):
    admin = factories.UserFactory(clinic=clinic, role="clinic_admin")
    product = factories.ProductFactory(clinic=clinic)
    login_with_mfa(client, admin)
    form = client.get(reverse("study-new")).context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    # a block of 3 cannot balance two sides: refused by the service, after the course was made
    data.update(arm_a_product=product.pk, arm_b_product=product.pk, course_template="", block_size=3)
    response = client.post(reverse("study-new"), data)
    assert response.status_code == 200
    assert "multiple of 2" in response.content.decode()
    assert not Study.objects.exists() and not CourseTemplate.objects.exists()


@pytest.mark.django_db
def test_a_clinician_defines_a_study_on_an_existing_course(client, clinic):
    clinician = factories.UserFactory(clinic=clinic, role="clinician")
    product = factories.ProductFactory(clinic=clinic)
    template = factories.CourseTemplateFactory(
        clinic=clinic, session_count=3, interval_weeks=3, followup_weeks=[6]
    )
    client.force_login(clinician)
    form = client.get(reverse("study-new")).context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update(arm_a_product=product.pk, arm_b_product=product.pk, course_template="")
    refused = client.post(reverse("study-new"), data)
    assert "Only a clinic administrator adds a course" in refused.content.decode()
    data["course_template"] = template.pk
    assert client.post(reverse("study-new"), data).status_code == 302
    assert Study.objects.get().course_template == template


@pytest.mark.django_db
def test_the_endpoints_region_is_chosen_from_the_analysed_regions_by_their_names(client, clinic):
    from exoderm.skinlab.face import REGIONS

    admin = factories.UserFactory(clinic=clinic, role="clinic_admin", language="de")
    product = factories.ProductFactory(clinic=clinic)
    login_with_mfa(client, admin)
    shown = client.get(reverse("study-new"))
    field = shown.context["form"]["region"]
    # the engine's names: the whole face and its nine regions, then the areas only close-ups show,
    # in the reader's language; not the whole photo, which a study's analysis never measures (a
    # close-up is chosen by its region)
    choices = [value for value, _label in field.field.choices]
    assert choices == ["face", *REGIONS, "neck", "decolletage", "scalp", "hands"]
    assert ("cheek_left", "Wange, links") in field.field.choices
    assert ("hands", "Handrücken") in field.field.choices
    assert '<select name="region"' in shown.content.decode()
    assert '<option value="cheek_left" selected>Wange, links</option>' in shown.content.decode()

    data = {name: f.initial for name, f in shown.context["form"].fields.items() if f.initial is not None}
    data.update(arm_a_product=product.pk, arm_b_product=product.pk, course_template="", region="cheek")
    admin.language = "en"
    admin.save()
    refused = client.post(reverse("study-new"), data)
    assert refused.status_code == 200 and not Study.objects.exists()
    assert refused.context["form"].errors["region"] == ["Choose one of the regions the analysis reports."]

    data["region"] = "full"
    assert client.post(reverse("study-new"), data).status_code == 200 and not Study.objects.exists()
    data["region"] = "face"  # the same region for both halves: no split-face comparison
    refused = client.post(reverse("study-new"), data)
    assert refused.status_code == 200 and not Study.objects.exists()
    assert "choose a region of one side" in refused.content.decode()

    data["region"] = "cheek_left"
    assert client.post(reverse("study-new"), data).status_code == 302
    assert set(Study.objects.get().endpoints.filter(kind="metric").values_list("region", flat=True)) == {
        "cheek_left"
    }


def test_a_study_with_the_forms_default_region_measures_the_photos(clinic, media_root):  # noqa: F811
    from exoderm.studies.analysis.results import results_of
    from exoderm.studies.services import EndpointInput
    from exoderm.web.study_forms import StudyForm

    scene = factories.SplitFaceStudyScene(
        clinic,
        endpoints=[
            EndpointInput(kind="gais", session_number=3, weeks_after_session=6, primary=True),
            EndpointInput(
                kind="metric",
                session_number=3,
                weeks_after_session=6,
                metric="spot_count",
                region=StudyForm.base_fields["region"].initial,
            ),
        ],
    )
    factories.run_split_face_study(scene, participants=3)  # close-ups of each cheek
    [spots] = [
        row
        for row in results_of(study=scene.study, user=scene.pi).endpoints
        if row.metric == "spot_count" and row.registered_visit
    ]
    assert spots.result.n == 3 and spots.result.estimate is not None and spots.result.estimate < 0


@pytest.mark.django_db
def test_enrolment_refusals_name_the_rule_and_the_criterion(client, scene):
    client.force_login(scene.pi)
    url = reverse("study-enrol", args=[scene.study.pk])
    unconsented = scene.patient(research_consent=False)
    page = client.post(url, {"action": "enrol", "patient": unconsented.pk}).content.decode()
    assert "Not enrolled:" in page and "research" in page.lower()
    pregnant = scene.patient(pregnancy=True)
    page = client.post(url, {"action": "enrol", "patient": pregnant.pk}).content.decode()
    assert "Not enrolled:" in page and "Pregnancy" in page
    assert not Participant.objects.exists()
    assert ScreenFailure.objects.filter(patient=pregnant).exists()
    declined = scene.patient()
    response = client.post(
        url,
        {
            "action": "screen_failure",
            "failure-patient": declined.pk,
            "failure-reason": "Declined after reading",
        },
    )
    assert response.status_code == 302
    study_page = client.get(reverse("study", args=[scene.study.pk])).content.decode()
    assert "Declined after reading" in study_page and pregnant.code in study_page


@pytest.mark.django_db
def test_enrolling_randomizes_concealed_and_withdrawal_keeps_the_reason(client, scene):
    client.force_login(scene.pi)
    patient = scene.patient()
    response = client.post(
        reverse("study-enrol", args=[scene.study.pk]),
        {
            "action": "enrol",
            "patient": patient.pk,
            "first_session_at": next_week(),
            "clinician": scene.clinician.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    participant = Participant.objects.get(patient=patient)
    page = client.get(reverse("study", args=[scene.study.pk])).content.decode()
    assert participant.pseudonym in page and "block 1: 1 of 4" in page
    assert "Session 1" in page  # the next visit of the planned course
    url = reverse("study-withdraw", args=[scene.study.pk, participant.pk])
    assert client.post(url, {"reason": ""}).status_code == 200
    assert client.post(url, {"reason": "Moved abroad"}).status_code == 302
    participant.refresh_from_db()
    assert (participant.status, participant.withdrawal_reason) == ("withdrawn", "Moved abroad")


@pytest.mark.django_db
def test_the_unblinded_coordinator_reveals_one_participant_and_prepares_a_kit(client, scene):
    participant = scene.participant()
    client.force_login(scene.coordinator)
    overview = client.get(reverse("study-allocation", args=[scene.study.pk])).content.decode()
    assert participant.pseudonym in overview and "Exosome serum" not in overview  # not before the reveal
    url = reverse("study-allocation-participant", args=[scene.study.pk, participant.pk])
    response = client.get(url)
    labels = response.context["labels"]
    assert {arm.code for arm in labels.values()} == {"A", "B"}
    left_vial = response.context["form"].fields["left"].queryset.first()
    right_vial = response.context["form"].fields["right"].queryset.first()
    assert left_vial.lot.product_id == labels["left"].product_id
    response = client.post(url, {"session_number": 1, "left": left_vial.pk, "right": right_vial.pk})
    assert response.status_code == 302
    kit = Kit.objects.get(participant=participant)
    assert {kv.label: kv.vial_id for kv in kit.vials.all()} == {"left": left_vial.pk, "right": right_vial.pk}
    page = client.get(url).content.decode()
    assert kit.code in page
    # the treating clinician sees the kit's code on the study page, and nothing of what it holds
    client.force_login(scene.clinician)
    page = client.get(reverse("study", args=[scene.study.pk])).content.decode()
    assert kit.code in page
    assert words_in(page, [*ARM_WORDS, left_vial.lot.number, right_vial.lot.number]) == []


@pytest.mark.django_db
def test_no_page_a_blinded_role_receives_names_the_allocation(client, scene, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    participant, task = with_rating_task(scene)
    others = [scene.participant() for _ in range(3)]
    from exoderm.studies import services

    for other in [participant, *others]:
        services.prepare_kit(
            participant=other, session_number=1, vials=scene.vials_for(other), by=scene.coordinator
        )
    lot_numbers = [scene.exosome_lot.number, scene.vehicle_lot.number]
    blinded = [scene.clinician, *scene.raters]
    for user in blinded:
        client.force_login(user)
        for url in study_pages(scene, participant, task):
            response = client.get(url)
            assert response.status_code == expected_status(user, url, scene), (user.first_name, url)
            found = words_in(response.content.decode(), [*ARM_WORDS, *lot_numbers])
            assert found == [], (user.first_name, url, found)
            assert not words_in(str(response.headers), [*ARM_WORDS, *lot_numbers])
        for url in study_pages(scene, participant, task)[9:11]:
            assert client.get(url).status_code == 403  # the allocation pages
    # the investigator sees the arms (not who got which) and no lot behind a kit
    client.force_login(scene.pi)
    for url in study_pages(scene, participant, task):
        response = client.get(url)
        assert words_in(response.content.decode(), lot_numbers) == [], url
    assert client.get(study_pages(scene, participant, task)[10]).status_code == 403
    # and the unblinded coordinator does see it: the search above would have found it
    client.force_login(scene.coordinator)
    revealed = client.get(study_pages(scene, participant, task)[10]).content.decode()
    assert words_in(revealed, ["Exosome serum", "Vehicle", *lot_numbers])


@pytest.mark.django_db
def test_the_rater_rates_by_numbered_sides_and_never_sees_another_raters_score(
    client, scene, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    participant, task = with_rating_task(scene)
    first, second = scene.raters
    client.force_login(first)
    queue = client.get(reverse("study-rate", args=[scene.study.pk])).content.decode()
    assert "You have rated 0 of 1 tasks." in queue
    url = reverse("study-rate-task", args=[scene.study.pk, task.pk])
    page = client.get(url).content.decode()
    for word in ("Left half", "Right half", "face_left", "face_right", "cheek", participant.pseudonym):
        assert word not in page
    assert "Side 1" in page and "Side 2" in page and "<kbd>1</kbd>" in page and "Enter saves" in page
    tokens = re.findall(r"/images/([\w-]+)\"", page)
    assert len(tokens) == 4
    image = client.get(reverse("study-rating-image", args=[scene.study.pk, tokens[0]]))
    assert image["Content-Type"] == "image/jpeg" and image["Cache-Control"] == "private, no-store"
    assert not Image.open(io.BytesIO(image.content)).getexif()
    assert str(task.participant.patient_id) not in image["Content-Disposition"]
    response = client.post(url, {"side_1": "much_improved", "side_2": "no_change", "better": "1"})
    assert response.status_code == 302 and response["Location"] == reverse(
        "study-rate", args=[scene.study.pk]
    )
    sides = {side.number: side.side for side in rating_sides(task=task)}
    rating = Rating.objects.get(task=task, rater=first)
    assert {s.side: s.gais for s in rating.scores.all()} == {sides[1]: "much_improved", sides[2]: "no_change"}
    assert rating.better_side == sides[1]
    assert "Your rating" in client.get(url).content.decode()
    # the second rater meets the task unrated, with nothing of the first rater's judgement
    client.force_login(second)
    page = client.get(url).content.decode()
    assert "Your rating" not in page and "checked" not in page
    assert (
        "You have rated 0 of 1 tasks."
        in client.get(reverse("study-rate", args=[scene.study.pk])).content.decode()
    )
    # a rater's other pages: the coordinator's page sends them to the queue, the images of
    # another study's task are not found
    assert client.get(reverse("study", args=[scene.study.pk]))["Location"] == reverse(
        "study-rate", args=[scene.study.pk]
    )


@pytest.mark.django_db
def test_the_coordinators_page_shows_visits_deviations_events_and_rating_progress(
    client, scene, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    participant, _task = with_rating_task(scene)
    client.force_login(scene.pi)
    response = client.post(
        reverse("study-deviation-new", args=[scene.study.pk]),
        {
            "participant": participant.pk,
            "kind": "wrong_side",
            "occurred_on": "2026-01-05",
            "description": "Vials swapped",
        },
    )
    assert response.status_code == 302 and Deviation.objects.filter(kind="wrong_side").exists()
    response = client.post(
        reverse("study-adverse-event-new", args=[scene.study.pk]),
        {
            "participant": participant.pk,
            "term": "erythema",
            "side": "face_left",
            "onset": participant.enrolled_at.date().isoformat(),
            "severity": 1,
            "related_to_procedure": "probable",
            "related_to_product": "possible",
            "serious": "on",
        },
    )
    assert (
        response.status_code == 200 and "report" in response.content.decode().lower()
    )  # serious: a report date
    assert not AdverseEvent.objects.exists()
    page = client.get(reverse("study", args=[scene.study.pk])).content.decode()
    assert "Vials swapped" in page and participant.pseudonym in page
    assert "0 of 1 rating tasks rated by every rater." in page
    assert "Rita" in page and "0 rated" in page


@pytest.mark.django_db
def test_a_study_is_opened_only_by_its_team_and_its_clinic(client, scene, other_clinic):
    url = reverse("study", args=[scene.study.pk])
    client.force_login(factories.UserFactory(clinic=scene.clinic, role="clinician"))
    assert client.get(url).status_code == 404
    assert "Exosomes after microneedling, split-face" not in client.get(reverse("studies")).content.decode()
    login_with_mfa(client, factories.UserFactory(clinic=other_clinic, role="clinic_admin"))
    assert client.get(url).status_code == 404
    client.force_login(scene.raters[0])
    assert client.get(reverse("study-enrol", args=[scene.study.pk])).status_code == 403


@pytest.mark.django_db
def test_emergency_unblinding_asks_why_and_shows_one_allocation_to_the_one_who_asked(client, scene):
    participant, other = scene.participant(), scene.participant()
    client.force_login(scene.clinician)
    url = reverse("study-unblind", args=[scene.study.pk, participant.pk])
    question = client.get(url).content.decode()
    assert "Unblind" in question and words_in(question, ARM_WORDS) == []
    assert client.post(url, {"reason": ""}).status_code == 200
    assert not Unblinding.objects.exists()
    page = client.post(url, {"reason": "Allergic reaction on one half, needs the product"}).content.decode()
    assert words_in(page, ["Exosome serum"]) and words_in(page, ["Vehicle"])
    assert Unblinding.objects.get().by == scene.clinician
    assert Deviation.objects.get(participant=participant).kind == "unblinding"
    # nothing else opens up: no other participant's allocation, no allocation page
    assert (
        client.get(reverse("study-allocation-participant", args=[scene.study.pk, other.pk])).status_code
        == 403
    )
    study_page = client.get(reverse("study", args=[scene.study.pk])).content.decode()
    assert words_in(study_page, ["Exosome serum", "ExoSerum ADSC", "EXO-2026-117"]) == []


@pytest.mark.django_db
def test_satisfaction_per_half_is_recorded_at_a_follow_up(client, scene, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    participant, _task = with_rating_task(scene)
    client.force_login(scene.clinician)
    url = reverse("study-satisfaction", args=[scene.study.pk, participant.pk])
    visits = client.get(url).context["form"].fields["visit"].queryset
    endpoint = visits.get(session_number=3)
    response = client.post(url, {"visit": endpoint.pk, "face_left": 4, "face_right": 5})
    assert response.status_code == 302
    assert dict(Satisfaction.objects.values_list("side", "score")) == {"face_left": 4, "face_right": 5}
    again = client.post(url, {"visit": endpoint.pk, "face_left": 3, "face_right": 3})
    assert again.status_code == 200 and "already" in again.content.decode()


@pytest.mark.django_db
def test_the_study_pages_make_as_many_queries_for_one_participant_as_for_four(client, clinic):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from exoderm.studies import services

    def counts(scene, participants: int) -> dict[str, int]:
        for day in range(participants):
            participant = scene.participant(
                first_session_at=timezone.now() + dt.timedelta(days=3 + day), clinician=scene.clinician
            )
            services.prepare_kit(
                participant=participant,
                session_number=1,
                vials=scene.vials_for(participant),
                by=scene.coordinator,
            )
            services.record_study_adverse_event(
                participant=participant, user=scene.clinician, term="pain", onset=timezone.localdate(),
                severity=1, serious=False, related_to_procedure="possible", related_to_product="unlikely",
            )  # fmt: skip
            services.record_deviation(
                participant=participant,
                kind="other",
                description="Late",
                occurred_on=timezone.localdate(),
                by=scene.clinician,
            )
        result = {}
        for user, name in (
            (scene.pi, "study"),
            (scene.coordinator, "study-allocation"),
            (scene.pi, "studies"),
        ):
            client.force_login(user)
            with CaptureQueriesContext(connection) as captured:
                url = reverse("studies") if name == "studies" else reverse(name, args=[scene.study.pk])
                assert client.get(url).status_code == 200
            result[name] = len(captured)
        return result

    one = counts(factories.SplitFaceStudyScene(clinic), 1)
    four = counts(factories.SplitFaceStudyScene(factories.ClinicFactory()), 4)
    assert one == four


@pytest.mark.django_db
def test_the_treating_clinician_charts_from_a_kit_and_refusals_name_only_its_labels(client, scene):
    from exoderm.studies import services

    participant = scene.participant()
    # Charted at noon of the clinic's yesterday: wall-clock times no clock change makes ambiguous
    # (the form takes local times, and the night the clocks go back repeats an hour).
    zone = zoneinfo.ZoneInfo(scene.clinic.time_zone)
    now = dt.datetime.combine(timezone.localdate(timezone=zone) - dt.timedelta(days=1), dt.time(12), zone)
    # the scene's consent is 24 hours old: in the afternoon, younger than that noon
    factories.give_treatment_consent(participant.patient, signed_at=now - dt.timedelta(days=1))
    kit = services.prepare_kit(
        participant=participant,
        session_number=1,
        vials=scene.vials_for(participant),
        by=scene.coordinator,
        thawed_at=now - dt.timedelta(minutes=30),
    )
    client.force_login(scene.clinician)
    study_page = client.get(reverse("study", args=[scene.study.pk])).content.decode()
    url = reverse("study-chart", args=[scene.study.pk, participant.pk])
    assert url in study_page
    form_page = client.get(url).content.decode()
    assert kit.code in form_page and words_in(form_page, ARM_WORDS) == []

    def at(minutes_ago: int) -> str:
        return wall(now - dt.timedelta(minutes=minutes_ago), scene.clinic)

    chart = {
        "kit": kit.pk,
        "performed_at": at(20),
        "procedure-kind": "microneedling",
        "procedure-areas": ["face"],
        "procedure-started_at": at(20),
        "procedure-ended_at": at(8),
        "procedure-device": "SkinPen",
        "procedure-needle_depth_mm": "1.0",
        "procedure-passes": "3",
        "left_volume_ml": "9.0",
        "left_applied_at": at(5),
        "right_volume_ml": "1.0",
        "right_applied_at": at(4),
    }
    refused = client.post(url, chart).content.decode()
    assert "The session was not saved:" in refused and "labelled left" in refused
    assert words_in(refused, ARM_WORDS) == []
    kit.refresh_from_db()
    assert kit.session_id is None
    response = client.post(url, {**chart, "left_volume_ml": "1.0"})
    assert response.status_code == 302, re.findall(r"violation\">([^<]*)", response.content.decode())
    kit.refresh_from_db()
    assert response.status_code == 302 and kit.session_id is not None
    assert response["Location"] == reverse("study", args=[scene.study.pk])  # not the session's page
    assert words_in(client.get(response["Location"]).content.decode(), ARM_WORDS) == []
    applied = {tuple(a.areas): a.volume_ml for a in kit.session.applications.all()}
    assert set(applied) == {("face_left",), ("face_right",)}
