"""Studies: the list, a new study, the coordinator's page (definition, enrolment, randomization
progress, visits, deviations, adverse events, rating progress), the unblinded coordinator's kits
and allocations one participant at a time, and the rater's queue of blinded rating tasks.

Blinding is decided by ``exoderm.studies.blinding`` and the domain's selectors: these views pass
an arm, a product or an allocation to a template only after asking them, and the rater's pages
show sides by number in a random order, never left, right or an arm.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from exoderm.clinics import selectors as clinic_selectors
from exoderm.clinics.models import Role
from exoderm.core.errors import RuleViolations, Violation
from exoderm.core.permissions import Action, can
from exoderm.courses import selectors as course_selectors
from exoderm.patients import selectors as patient_selectors
from exoderm.patients.models import Patient
from exoderm.photos.selectors import METRICS, region_label
from exoderm.products import selectors as product_selectors
from exoderm.studies import blinding, page_selectors, page_services, selectors, services
from exoderm.studies.analysis.unblinding import unblinded_at_of
from exoderm.studies.eligibility import describe
from exoderm.studies.models import (
    Design,
    EndpointKind,
    Participant,
    ParticipantStatus,
    Side,
    Study,
    StudyRoleKind,
)
from exoderm.studies.services import ArmInput, CriterionInput, EndpointInput
from exoderm.treatments.protocol import WARN
from exoderm.web.charting import ProcedureForm
from exoderm.web.forms import now_local
from exoderm.web.study_forms import (
    EQUAL,
    AdverseEventForm,
    DeviationForm,
    EnrolForm,
    KitChartForm,
    KitForm,
    RatingForm,
    RoleForm,
    SatisfactionForm,
    ScreenFailureForm,
    StudyForm,
    StudyReasonForm,
)
from exoderm.web.views.common import add_errors, clinic_of, page, user_of
from exoderm.web.views.photos import unreadable_file_page

#: The study roles that enrol patients (``services.enroll_participant``).
ENROLLING = frozenset({StudyRoleKind.PRINCIPAL_INVESTIGATOR, StudyRoleKind.UNBLINDED_COORDINATOR})


def _study(request: HttpRequest, pk: int) -> Study:
    return selectors.study_for(user=user_of(request), study_id=pk)


def _coordinated_study(request: HttpRequest, pk: int) -> Study:
    study = _study(request, pk)
    page_selectors.require_coordinator(user_of(request), study)
    return study


def _add_violations(form: object, refused: RuleViolations) -> None:
    for violation in refused.violations:
        form.add_error(None, violation.message)  # type: ignore[attr-defined]


@page(None)
def study_list(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    studies = list(
        selectors.studies_for(user=user, results_only=True).annotate(
            participant_count=Count("participants", distinct=True)
        )
    )
    ended = unblinded_at_of(studies)
    rows = [
        {
            "study": study,
            "unblinded_at": ended.get(study.pk),
            "coordinate": page_selectors.may_coordinate(user, study),
            "rate": page_selectors.is_rater(user, study),
            # the statistician opens the results, never the study's page with its participants
            "results_only": selectors.is_statistician(user, study),
            "participants": study.participant_count,
        }
        for study in studies
    ]
    return render(
        request,
        "web/studies/list.html",
        {"rows": rows, "may_set_up": can(user, Action.SET_UP_STUDY)},
    )


@page(Action.SET_UP_STUDY)
def study_new(request: HttpRequest) -> HttpResponse:
    clinic = clinic_of(request)
    user = user_of(request)
    form = StudyForm(
        request.POST or None,
        templates=course_selectors.course_templates(clinic=clinic),
        products=product_selectors.products(clinic),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["course_template"] is None and not can(user, Action.MANAGE_CLINIC):
            form.add_error("course_template", _("Only a clinic administrator adds a course; choose one."))
        else:
            try:
                study = page_services.set_up_study(by=user, **_definition(data))
            except ValidationError as error:
                add_errors(form, error, fields={"name": "course_name"})
            else:
                messages.success(request, _("Study %(title)s defined.") % {"title": study.title})
                return redirect("study", study.pk)
    return render(request, "web/studies/new.html", {"form": form})


def _definition(data: dict[str, Any]) -> dict[str, Any]:
    """The new-study form's fields as ``page_services.set_up_study`` takes them."""
    arms = [ArmInput(code="A", name=data["arm_a_name"], product=data["arm_a_product"].pk)]
    if data.get("arm_b_name"):
        arms.append(ArmInput(code="B", name=data["arm_b_name"], product=data["arm_b_product"].pk))
    criteria = []
    if data.get("age_min") is not None or data.get("age_max") is not None:
        criteria.append(
            CriterionInput(
                kind="inclusion", subject="age", min_value=data["age_min"], max_value=data["age_max"]
            )
        )
    if data.get("fitzpatrick_min") is not None or data.get("fitzpatrick_max") is not None:
        criteria.append(
            CriterionInput(
                kind="inclusion",
                subject="fitzpatrick",
                min_value=data["fitzpatrick_min"],
                max_value=data["fitzpatrick_max"],
            )
        )
    for item in data.get("exclusions") or []:
        criteria.append(CriterionInput(kind="exclusion", subject="screening", screening_item=item))
    at = {"session_number": data["endpoint_session"], "weeks_after_session": data["endpoint_weeks"]}
    region = data["region"]
    if data["primary_kind"] == EndpointKind.GAIS:
        endpoints = [EndpointInput(kind=EndpointKind.GAIS, primary=True, **at)]
    else:
        endpoints = [
            EndpointInput(
                kind=EndpointKind.METRIC, primary=True, metric=data["primary_metric"], region=region, **at
            )
        ]
    for metric in data.get("secondary_metrics") or []:
        if data["primary_kind"] == EndpointKind.METRIC and metric == data["primary_metric"]:
            continue
        endpoints.append(EndpointInput(kind=EndpointKind.METRIC, metric=metric, region=region, **at))
    if data.get("satisfaction"):
        endpoints.append(EndpointInput(kind=EndpointKind.SATISFACTION, **at))
    new_course = None
    if data["course_template"] is None:
        new_course = {
            "name": data["course_name"],
            "session_count": data["session_count"],
            "interval_weeks": data["interval_weeks"],
            "followup_weeks": [data["followup_weeks"]],
            "window_days": data["window_days"],
        }
    return {
        "course_template": data["course_template"],
        "new_course": new_course,
        "arms": arms,
        "endpoints": endpoints,
        "criteria": criteria,
        "title": data["title"],
        "registry_id": data["registry_id"],
        "design": data["design"],
        "blinding": data["blinding"],
        "block_size": data["block_size"],
        "stratification": data["stratification"],
        "slots_per_stratum": data["slots_per_stratum"],
    }


@page(None)
def study_detail(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The coordinator's page. A rater who holds no other role goes to the rating queue."""
    user = user_of(request)
    study = _study(request, pk)
    if not page_selectors.may_coordinate(user, study):
        return redirect("study-rate", study.pk)
    clinic = clinic_of(request)
    today = patient_selectors.clinic_today(clinic)
    roles = blinding.roles_of(user, study)
    staff = bool(roles & selectors.STAFF_ROLES)
    context = {
        "study": study,
        "sees_arms": blinding.sees_arms(user, study),
        "sees_allocation": blinding.sees_allocation(user, study),
        "arms": list(study.arms.select_related("product")),
        "criteria": [(criterion, describe(criterion)) for criterion in study.criteria.all()],
        "endpoints": [
            (
                endpoint,
                METRICS[endpoint.metric][0] if endpoint.metric in METRICS else endpoint.metric,
                region_label(endpoint.region) if endpoint.region else "",
            )
            for endpoint in study.endpoints.all()
        ],
        "amendments": list(selectors.amendments_of(study=study)),
        "team": list(selectors.roles_in(study=study)),
        "flow": selectors.flow_of(study=study, user=user),
        "progress": page_selectors.randomization_progress(study=study),
        "participants": page_selectors.participant_rows(study=study, today=today),
        # screen failures name patients who never joined: not for a role that only treats
        "screen_failures": list(selectors.screen_failures_of(study=study, user=user))
        if not roles or roles & ENROLLING
        else [],
        "deviations": list(selectors.deviations_of(study=study, user=user)),
        "adverse_events": list(
            selectors.adverse_events_of_study(study=study, user=user).select_related("patient")
        ),
        "kits": list(selectors.kits_of(study=study, user=user)) if staff else [],
        "rating": page_selectors.rating_progress(study=study),
        "is_rater": StudyRoleKind.RATER in roles,
        "is_treating": StudyRoleKind.TREATING_CLINICIAN in roles,
        "may_enrol": bool(
            roles & {StudyRoleKind.PRINCIPAL_INVESTIGATOR, StudyRoleKind.UNBLINDED_COORDINATOR}
        ),
        "may_record": bool(roles & selectors.STAFF_ROLES),
        "may_assign": StudyRoleKind.PRINCIPAL_INVESTIGATOR in roles or user.role == Role.CLINIC_ADMIN,
        "may_prepare_tasks": bool(
            roles & {StudyRoleKind.PRINCIPAL_INVESTIGATOR, StudyRoleKind.UNBLINDED_COORDINATOR}
        ),
        "shows_names": can(user, Action.VIEW_IDENTITY),
        "today": today,
        "role_form": RoleForm(users=clinic_selectors.clinic_users(clinic=clinic).filter(is_active=True)),
    }
    return render(request, "web/studies/detail.html", context)


def _unenrolled_patients(study: Study) -> QuerySet[Patient]:
    return patient_selectors.patients(clinic=study.clinic).exclude(study_participations__study=study)


@page(None)
def study_enrol(request: HttpRequest, pk: int) -> HttpResponse:
    """Enrol a patient (refusals name the consent rule or the criterion) or record a patient who
    was screened and not enrolled (declined, for example)."""
    user = user_of(request)
    study = _study(request, pk)
    services.require_study_role(user, study, ENROLLING)
    patients = _unenrolled_patients(study)
    clinicians = clinic_selectors.clinic_users(clinic=study.clinic).filter(
        role=Role.CLINICIAN, is_active=True
    )
    declined = request.method == "POST" and request.POST.get("action") == "screen_failure"
    form = EnrolForm(
        request.POST if request.method == "POST" and not declined else None,
        patients=patients,
        clinicians=clinicians,
        initial={"patient": request.GET.get("patient")},
    )
    failure_form = ScreenFailureForm(request.POST if declined else None, patients=patients, prefix="failure")
    if declined and failure_form.is_valid():
        try:
            services.record_screen_failure(
                study=study,
                patient=failure_form.cleaned_data["patient"],
                by=user,
                reason=failure_form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_errors(failure_form, error)
        else:
            messages.success(request, _("Recorded as screened and not enrolled."))
            return redirect("study", study.pk)
    elif request.method == "POST" and not declined and form.is_valid():
        data = form.cleaned_data
        try:
            participant = services.enroll_participant(
                study=study,
                patient=data["patient"],
                by=user,
                first_session_at=data["first_session_at"],
                clinician=data["clinician"],
            )
        except RuleViolations as refused:
            _add_violations(form, refused)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(
                request,
                _("Enrolled as %(pseudonym)s and randomized; the allocation stays concealed.")
                % {"pseudonym": participant.pseudonym},
            )
            return redirect("study", study.pk)
    return render(
        request, "web/studies/enrol.html", {"study": study, "form": form, "failure_form": failure_form}
    )


@page(None)
def participant_withdraw(request: HttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    user = user_of(request)
    study = _coordinated_study(request, pk)
    participant = selectors.participant_of(study=study, user=user, participant_id=participant_pk)
    form = StudyReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_participant(
                participant=participant, by=user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("%(pseudonym)s withdrawn.") % {"pseudonym": participant.pseudonym})
            return redirect("study", study.pk)
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Withdraw %(pseudonym)s from the study?") % {"pseudonym": participant.pseudonym},
            "question": _("The data recorded so far stays in the study; no further visit is planned for it."),
            "form": form,
            "button": _("Withdraw"),
            "cancel_url": reverse("study", args=[study.pk]),
        },
    )


@page(None)
def participant_unblind(request: HttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    """Emergency unblinding of one participant: asks for the reason, records it (an unblinding and
    a protocol deviation) and shows this participant's allocation to the one who asked, once."""
    user = user_of(request)
    study = _coordinated_study(request, pk)
    participant = selectors.participant_of(study=study, user=user, participant_id=participant_pk)
    form = StudyReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            revealed = services.unblind_participant(
                participant=participant, by=user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            arms = {arm.code: arm for arm in study.arms.select_related("product")}
            if study.design == Design.SPLIT_FACE:
                sides = [
                    (_("Left half of the face"), arms[revealed.face_left]),
                    (_("Right half of the face"), arms[revealed.face_right]),
                ]
            else:
                sides = [(_("Whole treated area"), arms[revealed.arm])]
            return render(
                request,
                "web/studies/unblinded.html",
                {"study": study, "participant": participant, "sides": sides},
            )
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Unblind %(pseudonym)s in an emergency?") % {"pseudonym": participant.pseudonym},
            "question": _(
                "Only when the participant's care needs it. The allocation is shown to you alone, once; "
                "the unblinding is recorded with your reason as a protocol deviation."
            ),
            "form": form,
            "button": _("Unblind"),
            "cancel_url": reverse("study", args=[study.pk]),
        },
    )


@page(None)
def participant_chart(request: HttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    """The treating clinician charts a session from a coded kit: the procedure on the whole face,
    then each vial on the half its label names. The protocol check is the one of every session;
    its messages name the kit's vials by label, never lot or product."""
    user = user_of(request)
    study = _coordinated_study(request, pk)
    participant = selectors.participant_of(study=study, user=user, participant_id=participant_pk)
    kits = selectors.kits_of(study=study, user=user).filter(
        participant=participant, session__isnull=True, discarded_at__isnull=True
    )
    initial = {"performed_at": now_local(), "left_applied_at": now_local(), "right_applied_at": now_local()}
    form = KitChartForm(request.POST or None, kits=kits.order_by("session_number"), initial=initial)
    procedure = ProcedureForm(request.POST or None, prefix="procedure", initial={"areas": ["face"]})
    problems: list[str] = []
    warnings: list[Violation] = []
    if request.method == "POST" and form.is_valid() and procedure.is_valid() and not procedure.is_blank():
        data = form.cleaned_data
        try:
            services.chart_from_kit(
                participant=participant,
                kit_code=data["kit"].code,
                clinician=user,
                performed_at=data["performed_at"],
                procedures=[procedure.to_input()],
                applications=[
                    services.KitApplicationInput(
                        side=side,
                        volume_ml=data[f"{label}_volume_ml"],
                        applied_at=data[f"{label}_applied_at"],
                    )
                    for side, label in ((Side.LEFT, "left"), (Side.RIGHT, "right"))
                ],
                acknowledged_warnings=request.POST.getlist("acknowledge"),
                notes=data["notes"],
            )
        except ValidationError as error:
            problems = error.messages
        except RuleViolations as refused:
            problems = [v.message for v in refused.violations if v.severity != WARN]
            warnings = [v for v in refused.violations if v.severity == WARN]
        else:
            messages.success(request, _("Session recorded from kit %(code)s.") % {"code": data["kit"].code})
            # Back to the study, not to the session's page: that page names the lot and product
            # of each application, which would tell a blinded clinician the allocation.
            return redirect("study", study.pk)
    elif request.method == "POST" and procedure.is_valid() and procedure.is_blank():
        problems = [_("Chart the procedure that opened the skin barrier.")]
    return render(
        request,
        "web/studies/chart.html",
        {
            "study": study,
            "participant": participant,
            "form": form,
            "procedure": procedure,
            "problems": problems,
            "warnings": warnings,
            "acknowledged": request.POST.getlist("acknowledge"),
        },
    )


@page(None)
def participant_satisfaction(request: HttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    """The participant's satisfaction with each half of the face at a follow-up visit (1 to 5)."""
    user = user_of(request)
    study = _coordinated_study(request, pk)
    participant = selectors.participant_of(study=study, user=user, participant_id=participant_pk)
    visits = page_selectors.follow_ups(participant=participant)
    form = SatisfactionForm(request.POST or None, visits=visits)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.record_satisfaction(
                participant=participant,
                visit=data["visit"],
                scores={Side.LEFT: data["face_left"], Side.RIGHT: data["face_right"]},
                by=user,
            )
        except ValidationError as error:
            add_errors(form, error, fields={f"scores.{side}": side for side in (Side.LEFT, Side.RIGHT)})
        else:
            messages.success(request, _("Satisfaction recorded."))
            return redirect("study", study.pk)
    return render(
        request,
        "web/studies/record.html",
        {
            "study": study,
            "form": form,
            "title": _("Satisfaction of %(pseudonym)s") % {"pseudonym": participant.pseudonym},
            "submit": _("Record the satisfaction"),
        },
    )


@page(None)
def study_roles(request: HttpRequest, pk: int) -> HttpResponse:
    """Give a user of the clinic a study role (the form sits on the study's page)."""
    user = user_of(request)
    study = _coordinated_study(request, pk)
    if request.method == "POST":
        form = RoleForm(
            request.POST, users=clinic_selectors.clinic_users(clinic=study.clinic).filter(is_active=True)
        )
        if form.is_valid():
            try:
                services.assign_role(
                    study=study, user=form.cleaned_data["user"], role=form.cleaned_data["role"], by=user
                )
            except ValidationError as error:
                for text in error.messages:
                    messages.error(request, text)
            else:
                messages.success(request, _("Study role given."))
        else:
            messages.error(request, _("Choose a user and a study role."))
    return redirect("study", study.pk)


@page(None)
def rating_tasks_prepare(request: HttpRequest, pk: int) -> HttpResponse:
    """Create the rating tasks whose photos are all there (POST only)."""
    study = _coordinated_study(request, pk)
    if request.method == "POST":
        created = services.prepare_rating_tasks(study=study, by=user_of(request))
        messages.success(request, _("%(count)d new rating tasks.") % {"count": created})
    return redirect("study", study.pk)


@page(None)
def deviation_new(request: HttpRequest, pk: int) -> HttpResponse:
    user = user_of(request)
    study = _coordinated_study(request, pk)
    participants = selectors.participants_of(study=study, user=user)
    form = DeviationForm(
        request.POST or None,
        participants=participants,
        initial={"occurred_on": patient_selectors.clinic_today(study.clinic)},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.record_deviation(
                participant=data["participant"],
                kind=data["kind"],
                description=data["description"],
                occurred_on=data["occurred_on"],
                by=user,
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Deviation recorded."))
            return redirect("study", study.pk)
    return render(
        request,
        "web/studies/record.html",
        {
            "study": study,
            "form": form,
            "title": _("Record a protocol deviation"),
            "submit": _("Record the deviation"),
        },
    )


@page(None)
def adverse_event_new(request: HttpRequest, pk: int) -> HttpResponse:
    user = user_of(request)
    study = _coordinated_study(request, pk)
    participants = selectors.participants_of(study=study, user=user)
    form = AdverseEventForm(
        request.POST or None,
        participants=participants,
        initial={"onset": patient_selectors.clinic_today(study.clinic)},
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        participant = data.pop("participant")
        try:
            services.record_study_adverse_event(participant=participant, user=user, **data)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, _("Adverse event recorded."))
            return redirect("study", study.pk)
    return render(
        request,
        "web/studies/record.html",
        {
            "study": study,
            "form": form,
            "title": _("Record an adverse event"),
            "submit": _("Record the event"),
        },
    )


# --- the unblinded coordinator ------------------------------------------------------------------


def _unblinded_study(request: HttpRequest, pk: int) -> Study:
    study = _study(request, pk)
    if not blinding.sees_allocation(user_of(request), study):
        raise PermissionDenied(
            _("The allocation is concealed: only the study's unblinded coordinator may see it.")
        )
    return study


@page(None)
def allocation(request: HttpRequest, pk: int) -> HttpResponse:
    """The unblinded coordinator's page: kits still to prepare and the kits prepared, each
    participant's allocation behind its own link (revealed one participant at a time)."""
    user = user_of(request)
    study = _unblinded_study(request, pk)
    context = {
        "study": study,
        "to_prepare": page_selectors.kits_to_prepare(study=study),
        "kits": list(selectors.kits_of(study=study, user=user)),
        "participants": list(selectors.participants_of(study=study, user=user)),
    }
    return render(request, "web/studies/allocation.html", context)


@page(None)
def allocation_participant(request: HttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    """One participant's allocation, revealed to the unblinded coordinator, and the kit form."""
    user = user_of(request)
    study = _unblinded_study(request, pk)
    participant: Participant = selectors.participant_of(study=study, user=user, participant_id=participant_pk)
    revealed = selectors.allocation_of(participant=participant, user=user)
    arms = {arm.code: arm for arm in study.arms.select_related("product")}
    if study.design == Design.SPLIT_FACE:
        labels = {"left": arms[revealed.face_left], "right": arms[revealed.face_right]}
    else:
        labels = {"single": arms[revealed.arm]}
    in_use = participant.kits.filter(discarded_at__isnull=True)  # a discarded kit's session gets another
    prepared = set(in_use.values_list("session_number", flat=True))
    sessions = [n for n in range(1, study.course_template.session_count + 1) if n not in prepared]
    vials = {
        label: page_selectors.kit_vials(study=study, product_id=arm.product_id)
        for label, arm in labels.items()
    }
    form = KitForm(request.POST or None, sessions=sessions, vials=vials, initial={"thaw_now": False})
    if request.method == "POST" and form.is_valid() and participant.status == ParticipantStatus.ENROLLED:
        data = form.cleaned_data
        try:
            kit = services.prepare_kit(
                participant=participant,
                session_number=data["session_number"],
                vials={label: data[label].pk for label in labels},
                by=user,
                thawed_at=timezone.now() if data.get("thaw_now") else None,
            )
        except RuleViolations as refused:
            _add_violations(form, refused)
        except ValidationError as error:
            add_errors(form, error, fields={f"vials.{label}": label for label in labels})
        else:
            messages.success(
                request,
                _("Kit %(code)s prepared for session %(n)d: label its vials as shown.")
                % {"code": kit.code, "n": kit.session_number},
            )
            return redirect("study-allocation-participant", study.pk, participant.pk)
    context = {
        "study": study,
        "participant": participant,
        "labels": labels,
        "form": form if sessions and participant.status == ParticipantStatus.ENROLLED else None,
        "kits": list(selectors.kits_of(study=study, user=user).filter(participant=participant)),
    }
    return render(request, "web/studies/allocation_participant.html", context)


# --- the rater ------------------------------------------------------------------------------------


@page(None)
def rating_queue(request: HttpRequest, pk: int) -> HttpResponse:
    """The rater's queue: their own progress and the tasks in a random order, never a score of
    another rater."""
    user = user_of(request)
    study = _study(request, pk)
    queue = selectors.rating_queue(study=study, rater=user)
    done = sum(1 for entry in queue if entry.own_rating is not None)
    context = {
        "study": study,
        "queue": queue,
        "done": done,
        "total": len(queue),
        "next": next((entry.task for entry in queue if entry.own_rating is None), None),
    }
    return render(request, "web/studies/rate_queue.html", context)


@page(None)
def rating_task(request: HttpRequest, pk: int, task_pk: int) -> HttpResponse:
    """One task: both sides' baseline and follow-up photos large, GAIS per side, keyboard-friendly.
    Saving opens the next unrated task."""
    user = user_of(request)
    study = _study(request, pk)
    task = selectors.rating_task_for_rater(study=study, rater=user, task_id=task_pk)
    sides = page_selectors.rating_sides(task=task)
    compare = study.design == Design.SPLIT_FACE and len(sides) == 2
    own = page_selectors.own_rating(task=task, rater=user)
    form = RatingForm(request.POST or None, sides=[side.number for side in sides], compare=compare)
    if own is None and request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        by_number = {side.number: side.side for side in sides}
        better = data.get("better") or ""
        try:
            services.record_rating(
                task=task,
                rater=user,
                scores={by_number[number]: data[f"side_{number}"] for number in by_number},
                better_side=better if better in ("", EQUAL) else by_number[int(better)],
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            following = page_selectors.next_unrated_task(study=study, rater=user)
            messages.success(request, _("Rating saved."))
            if following is None:
                return redirect("study-rate", study.pk)
            return redirect("study-rate-task", study.pk, following.pk)
    done, total = page_selectors.rating_counts(study=study, rater=user)
    own_scores = {}
    own_better = ""
    if own is not None:
        number_of = {side.side: side.number for side in sides}
        own_scores = {number_of.get(score.side): score.get_gais_display() for score in own.scores.all()}
        if own.better_side == EQUAL:
            own_better = _("No difference")
        elif own.better_side in number_of:
            own_better = _("Side %(number)d") % {"number": number_of[own.better_side]}
    context = {
        "study": study,
        "task": task,
        "sides": sides,
        "form": form,
        "own": own,
        "own_scores": own_scores,
        "own_better": own_better,
        "done": done,
        "total": total,
        "position": done + (0 if own is not None else 1),
    }
    return render(request, "web/studies/rate_task.html", context)


@page(None)
@unreadable_file_page
def rating_image(request: HttpRequest, pk: int, token: str) -> HttpResponse:
    """A task's photo by its random token, re-encoded from the pixels (no name, date or EXIF)."""
    study = _study(request, pk)
    data, _image = selectors.rating_image(study=study, user=user_of(request), token=token)
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Content-Disposition"] = 'inline; filename="rating.jpg"'
    return response
