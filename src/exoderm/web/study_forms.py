"""Forms of the study pages. They parse and label input; ``exoderm.studies.services`` decides what
is valid. The new-study form's defaults reproduce Park et al. 2022 (J Cosmet Dermatol): split-face,
3 sessions 3 weeks apart, follow-up 6 weeks after the last, GAIS by a blinded rater as the
primary endpoint, wrinkles, tone, pigment and redness per side as secondary endpoints."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from exoderm.clinics.models import User
from exoderm.core.areas import Area
from exoderm.core.contraindications import ScreeningItem
from exoderm.core.text import NOTE
from exoderm.courses.models import CourseTemplate
from exoderm.patients.models import Patient
from exoderm.photos.selectors import METRICS, analysed_regions
from exoderm.products.models import Product, Vial
from exoderm.safety.models import Grade, Relatedness, Term
from exoderm.safety.models import Side as EventSide
from exoderm.studies.models import (
    Blinding,
    Design,
    DeviationKind,
    EndpointKind,
    Gais,
    Participant,
    Stratification,
    StudyRoleKind,
)
from exoderm.studies.services import BEYOND_THE_FACE, ENDPOINT_REGIONS
from exoderm.web.forms import DateInput, datetime_field, text_field


def endpoint_regions() -> list[tuple[str, str]]:
    """The regions a study's metric endpoint can name, by their names: the face's as the analysis
    reports them, then the areas that only close-ups show."""
    face = [(region, name) for region, name in analysed_regions() if region in ENDPOINT_REGIONS]
    return face + [(area.value, str(area.label)) for area in BEYOND_THE_FACE]


#: Park et al. 2022 measured wrinkles, pigment and tone per side besides the blinded GAIS.
PARK_SECONDARY_METRICS = ["wrinkle_density", "spot_area_pct", "tone_sd_L", "red_area_pct"]


class StudyForm(forms.Form):
    title = text_field(
        label=_("Title"),
        max_length=300,
        initial="Exosomes after microneedling: a randomized, blinded split-face trial",
    )
    registry_id = text_field(
        label=_("Registry id"), max_length=64, required=False, help_text=_("For example DRKS00012345.")
    )
    design = forms.ChoiceField(label=_("Design"), choices=Design.choices, initial=Design.SPLIT_FACE)
    blinding = forms.ChoiceField(label=_("Blinding"), choices=Blinding.choices, initial=Blinding.DOUBLE)

    course_template = forms.ModelChoiceField(
        label=_("Course"),
        queryset=CourseTemplate.objects.none(),
        required=False,
        empty_label=_("A new course, as below"),
    )
    course_name = text_field(
        label=_("Name of the new course"),
        max_length=200,
        required=False,
        initial="Study course 3 × 3 weeks, follow-up week 6",
    )
    session_count = forms.IntegerField(label=_("Sessions"), min_value=1, max_value=24, initial=3)
    interval_weeks = forms.IntegerField(
        label=_("Weeks between sessions"), min_value=1, max_value=52, initial=3
    )
    followup_weeks = forms.IntegerField(
        label=_("Follow-up (weeks after each session)"), min_value=1, max_value=52, initial=6
    )
    window_days = forms.IntegerField(label=_("Due window (± days)"), min_value=0, max_value=28, initial=3)

    arm_a_name = text_field(label=_("Arm A"), max_length=120, initial="Exosomes")
    arm_a_product = forms.ModelChoiceField(label=_("Product of arm A"), queryset=Product.objects.none())
    arm_b_name = text_field(
        label=_("Arm B"),
        max_length=120,
        required=False,
        initial="Vehicle (saline)",
        help_text=_("Leave empty for a single-arm study."),
    )
    arm_b_product = forms.ModelChoiceField(
        label=_("Product of arm B"), queryset=Product.objects.none(), required=False
    )

    block_size = forms.IntegerField(label=_("Randomization block size"), min_value=2, max_value=24, initial=4)
    stratification = forms.ChoiceField(
        label=_("Stratification"), choices=Stratification.choices, initial=Stratification.NONE
    )
    slots_per_stratum = forms.IntegerField(
        label=_("Participants planned per stratum"), min_value=2, max_value=2000, initial=28
    )

    age_min = forms.IntegerField(label=_("Age from"), min_value=0, max_value=120, required=False, initial=20)
    age_max = forms.IntegerField(label=_("Age to"), min_value=0, max_value=120, required=False, initial=65)
    fitzpatrick_min = forms.IntegerField(
        label=_("Fitzpatrick type from"), min_value=1, max_value=6, required=False
    )
    fitzpatrick_max = forms.IntegerField(
        label=_("Fitzpatrick type to"), min_value=1, max_value=6, required=False
    )
    exclusions = forms.MultipleChoiceField(
        label=_("Excluded when the screening answers yes"),
        choices=ScreeningItem.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=[ScreeningItem.PREGNANCY, ScreeningItem.ISOTRETINOIN, ScreeningItem.KELOID],
    )

    primary_kind = forms.ChoiceField(
        label=_("Primary endpoint"),
        choices=[
            (EndpointKind.GAIS, EndpointKind.GAIS.label),
            (EndpointKind.METRIC, EndpointKind.METRIC.label),
        ],
        initial=EndpointKind.GAIS,
    )
    primary_metric = forms.ChoiceField(
        label=_("Metric of a measured primary endpoint"),
        choices=[("", "–")] + [(key, label) for key, (label, _direction) in METRICS.items()],
        required=False,
    )
    endpoint_session = forms.IntegerField(
        label=_("Endpoints after session"), min_value=1, max_value=24, initial=3
    )
    endpoint_weeks = forms.IntegerField(
        label=_("Endpoints at week (after that session)"), min_value=1, max_value=52, initial=6
    )
    secondary_metrics = forms.MultipleChoiceField(
        label=_("Secondary endpoints measured on the photos"),
        choices=[(key, label) for key, (label, _direction) in METRICS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=PARK_SECONDARY_METRICS,
    )
    # the regions a study can measure, named in the reader's language (a callable: the names are
    # worded when the form is shown, not when this module is imported)
    region = forms.ChoiceField(
        label=_("Region of the measured endpoints"),
        choices=endpoint_regions,
        initial=Area.CHEEK_LEFT,
        help_text=_(
            "Face: the whole face on the face photos. Cheek or periorbital of one side: in a "
            "split-face study that region of each half (the other half at its mirror image), "
            "measured on the region's close-ups or else on the face photos. Forehead, glabella, "
            "nose, perioral, chin: the midline, for a parallel or single-arm study. Neck, décolletage, "
            "scalp, back of the hands: on their close-ups, for a parallel or single-arm study."
        ),
        error_messages={"invalid_choice": _("Choose one of the regions the analysis reports.")},
    )
    satisfaction = forms.BooleanField(
        label=_("Patient-reported satisfaction per side as a secondary endpoint"),
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, templates: Any, products: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["course_template"].queryset = templates  # type: ignore[attr-defined]
        self.fields["arm_a_product"].queryset = products  # type: ignore[attr-defined]
        self.fields["arm_b_product"].queryset = products  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("arm_b_name") and not data.get("arm_b_product"):
            self.add_error("arm_b_product", _("Choose the product of arm B."))
        if not data.get("course_template") and not data.get("course_name"):
            self.add_error("course_name", _("Choose a course or name the new one."))
        if data.get("primary_kind") == EndpointKind.METRIC and not data.get("primary_metric"):
            self.add_error("primary_metric", _("Choose the metric of the primary endpoint."))
        return data


class EnrolForm(forms.Form):
    patient = forms.ModelChoiceField(label=_("Patient"), queryset=Patient.objects.none())
    first_session_at = datetime_field(_("First session at"), required=False)
    clinician = forms.ModelChoiceField(
        label=_("Treating clinician"), queryset=User.objects.none(), required=False
    )

    def __init__(self, *args: Any, patients: Any, clinicians: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["patient"]
        field.queryset = patients  # type: ignore[attr-defined]
        field.label_from_instance = lambda patient: (  # type: ignore[attr-defined]
            f"{patient.identity.family_name}, {patient.identity.given_name} ({patient.code})"
        )
        field.widget.attrs["data-filter"] = _("Filter by name or code")
        self.fields["clinician"].queryset = clinicians  # type: ignore[attr-defined]
        self.fields["clinician"].label_from_instance = lambda user: user.display_name  # type: ignore[attr-defined]


class ScreenFailureForm(forms.Form):
    patient = forms.ModelChoiceField(label=_("Patient"), queryset=Patient.objects.none())
    reason = text_field(label=_("Why not enrolled"), max_length=500, rows=2)

    def __init__(self, *args: Any, patients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["patient"]
        field.queryset = patients  # type: ignore[attr-defined]
        field.label_from_instance = lambda patient: (  # type: ignore[attr-defined]
            f"{patient.identity.family_name}, {patient.identity.given_name} ({patient.code})"
        )


class StudyReasonForm(forms.Form):
    reason = text_field(label=_("Reason"), max_length=500, rows=3)


SATISFACTION_CHOICES = [
    (1, _("1 – very dissatisfied")),
    (2, _("2 – dissatisfied")),
    (3, _("3 – neither")),
    (4, _("4 – satisfied")),
    (5, _("5 – very satisfied")),
]


class SatisfactionForm(forms.Form):
    """The participant's own satisfaction with each half of the face at a follow-up visit."""

    visit = forms.ModelChoiceField(label=_("Follow-up visit"), queryset=Participant.objects.none())
    face_left = forms.TypedChoiceField(
        label=_("Left half of the face"), choices=SATISFACTION_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    face_right = forms.TypedChoiceField(
        label=_("Right half of the face"), choices=SATISFACTION_CHOICES, coerce=int, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, visits: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["visit"].queryset = visits  # type: ignore[attr-defined]
        self.fields["visit"].label_from_instance = self.visit_label  # type: ignore[attr-defined]

    @staticmethod
    def visit_label(visit: Any) -> str:
        return _("Follow-up week %(weeks)s after session %(n)s") % {
            "weeks": visit.weeks_after_session,
            "n": visit.session_number,
        }


class KitChartForm(forms.Form):
    """A session charted from a coded kit: the kit, when, and how much of each vial went on the
    half its label names. The procedure comes from the charting page's own procedure form."""

    kit = forms.ModelChoiceField(label=_("Kit"), queryset=Participant.objects.none())
    performed_at = datetime_field(_("Session at"))
    left_volume_ml = forms.DecimalField(label=_("Volume on the left half (ml)"), decimal_places=2)
    left_applied_at = datetime_field(_("Vial labelled left applied at"))
    right_volume_ml = forms.DecimalField(label=_("Volume on the right half (ml)"), decimal_places=2)
    right_applied_at = datetime_field(_("Vial labelled right applied at"))
    notes = text_field(label=_("Notes"), required=False, max_length=NOTE, rows=2)

    def __init__(self, *args: Any, kits: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kit"].queryset = kits  # type: ignore[attr-defined]
        self.fields["kit"].label_from_instance = self.kit_label  # type: ignore[attr-defined]

    @staticmethod
    def kit_label(kit: Any) -> str:
        return _("%(code)s (session %(n)s)") % {"code": kit.code, "n": kit.session_number}


class RoleForm(forms.Form):
    user = forms.ModelChoiceField(label=_("User"), queryset=User.objects.none())
    role = forms.ChoiceField(label=_("Study role"), choices=StudyRoleKind.choices)

    def __init__(self, *args: Any, users: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users  # type: ignore[attr-defined]
        self.fields["user"].label_from_instance = lambda user: user.display_name  # type: ignore[attr-defined]


class KitForm(forms.Form):
    """A coded kit for one session: one vial per label, chosen from the arm's product (the page
    shows which arm each label carries: only the unblinded coordinator sees it)."""

    session_number = forms.TypedChoiceField(label=_("For session"), coerce=int)
    left = forms.ModelChoiceField(label=_("Vial labelled left"), queryset=Vial.objects.none(), required=False)
    right = forms.ModelChoiceField(
        label=_("Vial labelled right"), queryset=Vial.objects.none(), required=False
    )
    single = forms.ModelChoiceField(label=_("Vial"), queryset=Vial.objects.none(), required=False)
    thaw_now = forms.BooleanField(label=_("Thaw or reconstitute stored vials now"), required=False)

    def __init__(self, *args: Any, sessions: list[int], vials: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["session_number"].choices = [(n, str(n)) for n in sessions]  # type: ignore[attr-defined]
        for label in ("left", "right", "single"):
            if label in vials:
                self.fields[label].queryset = vials[label]  # type: ignore[attr-defined]
                self.fields[label].required = True
            else:
                del self.fields[label]


class DeviationForm(forms.Form):
    participant = forms.ModelChoiceField(label=_("Participant"), queryset=Participant.objects.none())
    kind = forms.ChoiceField(label=_("Kind"), choices=DeviationKind.choices)
    occurred_on = forms.DateField(label=_("Occurred on"), widget=DateInput())
    description = text_field(label=_("Description"), max_length=1000, rows=3)

    def __init__(self, *args: Any, participants: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["participant"].queryset = participants  # type: ignore[attr-defined]
        self.fields["participant"].label_from_instance = lambda p: p.pseudonym  # type: ignore[attr-defined]


class AdverseEventForm(forms.Form):
    participant = forms.ModelChoiceField(label=_("Participant"), queryset=Participant.objects.none())
    term = forms.ChoiceField(label=_("Term"), choices=Term.choices)
    description = text_field(label=_("Description"), max_length=NOTE, rows=2, required=False)
    side = forms.ChoiceField(label=_("Side"), choices=EventSide.choices)
    onset = forms.DateField(label=_("Onset"), widget=DateInput())
    resolved_on = forms.DateField(label=_("Resolved on"), widget=DateInput(), required=False)
    severity = forms.TypedChoiceField(label=_("Severity (CTCAE grade)"), choices=Grade.choices, coerce=int)
    related_to_procedure = forms.ChoiceField(label=_("Related to the procedure"), choices=Relatedness.choices)
    related_to_product = forms.ChoiceField(label=_("Related to the product"), choices=Relatedness.choices)
    serious = forms.BooleanField(label=_("Serious"), required=False)
    report_date = forms.DateField(
        label=_("Reported on"), widget=DateInput(), required=False, help_text=_("Needed for a serious event.")
    )

    def __init__(self, *args: Any, participants: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["participant"].queryset = participants  # type: ignore[attr-defined]
        self.fields["participant"].label_from_instance = lambda p: p.pseudonym  # type: ignore[attr-defined]


#: The rater's choices, best first: the number keys 1 to 5 pick them in this order.
GAIS_ORDER = [Gais.VERY_MUCH_IMPROVED, Gais.MUCH_IMPROVED, Gais.IMPROVED, Gais.NO_CHANGE, Gais.WORSE]
EQUAL = "equal"


class RatingForm(forms.Form):
    """GAIS for each side of a task, the sides numbered in the task's random order (``side_1``,
    ``side_2``: never left or right, never an arm), and optionally which side improved more."""

    def __init__(self, *args: Any, sides: list[int], compare: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(value, Gais(value).label) for value in GAIS_ORDER]
        for number in sides:
            self.fields[f"side_{number}"] = forms.ChoiceField(
                label=_("Side %(number)d") % {"number": number}, choices=choices, widget=forms.RadioSelect
            )
        if compare:
            self.fields["better"] = forms.ChoiceField(
                label=_("Which side improved more? (optional)"),
                choices=[(str(n), _("Side %(number)d") % {"number": n}) for n in sides]
                + [(EQUAL, _("No difference"))],
                widget=forms.RadioSelect,
                required=False,
            )
