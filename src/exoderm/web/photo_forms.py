"""The capture form: the file and where the photo belongs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from exoderm.core.areas import FACE_PARTS, Area
from exoderm.courses.models import Visit, VisitKind, VisitStatus
from exoderm.photos.models import Timepoint, TrashReason, View
from exoderm.web.forms import text_field


def visit_name(visit: Visit) -> str:
    """A course visit as the patient page names it: "Follow-up week 2 after session 1"."""
    if visit.kind == VisitKind.SESSION:
        return gettext("Session %(n)s") % {"n": visit.session_number}
    return gettext("Follow-up week %(weeks)s after session %(n)s") % {
        "weeks": visit.weeks_after_session,
        "n": visit.session_number,
    }


def visit_window(visit: Visit) -> str:
    """The days a visit is due, in the reader's format."""
    first, last = (formats.date_format(day, "SHORT_DATE_FORMAT") for day in (visit.due_from, visit.due_until))
    return f"{first} – {last}"


class VisitChoiceField(forms.ModelChoiceField):
    """A visit by its name, planned day and status (a QA walk met "follow_up 2026-11-17" beside
    "…-11-18", and could not tell week 2 from week 6)."""

    def label_from_instance(self, obj: Any) -> str:
        day = formats.date_format(timezone.localtime(obj.planned_at).date(), "SHORT_DATE_FORMAT")
        label = f"{visit_name(obj)} · {day}"
        return label if obj.status == VisitStatus.PLANNED else f"{label} ({obj.get_status_display()})"


class CaptureForm(forms.Form):
    file = forms.FileField(
        label=_("Photo"),
        help_text=_("JPEG, PNG, TIFF or HEIC straight from the camera."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/tiff,image/heic,.heic"}),
    )
    view = forms.ChoiceField(label=_("View"), choices=View.choices)
    timepoint = forms.ChoiceField(label=_("Time point"), choices=Timepoint.choices)
    area = forms.ChoiceField(
        label=_("Area (close-ups only)"), choices=[("", "—"), *Area.choices], required=False
    )
    region = forms.ChoiceField(
        label=_("Region (face views)"),
        choices=[("", _("Whole face")), *[(a, label) for a, label in Area.choices if a in FACE_PARTS]],
        required=False,
    )
    taken_at = forms.DateTimeField(
        label=_("Taken at"),
        required=False,
        help_text=_("Leave empty to use the camera's time, or the upload time."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    # the range is the upload's to check: Django's own message would show 0.001 in every language
    mm_per_px = forms.FloatField(label=_("Scale (mm per pixel)"), required=False)
    visit = VisitChoiceField(label=_("Visit"), queryset=Visit.objects.none(), required=False)

    def __init__(self, *args: Any, visits: QuerySet[Visit] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if visits is not None:
            self.fields["visit"].queryset = visits  # type: ignore[attr-defined]


class ResultsForm(forms.Form):
    """Which photos the course results show: one view and, for close-ups, one area."""

    view = forms.ChoiceField(label=_("View"), choices=View.choices)
    area = forms.ChoiceField(
        label=_("Area (close-ups only)"), choices=[("", "—"), *Area.choices], required=False
    )
    region = forms.ChoiceField(
        label=_("Region (face views)"),
        choices=[("", _("Whole face")), *[(a, label) for a, label in Area.choices if a in FACE_PARTS]],
        required=False,
    )


class CollageForm(forms.Form):
    """Which two photos the before/after image shows, and whether the clinic's name marks it."""

    before = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    after = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    watermark = forms.BooleanField(label=_("The clinic's name across the image (watermark)"), required=False)


class CheckForm(CaptureForm):
    """The fields of the capture form that the check before upload reads (sent with the form)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("taken_at", "visit"):
            del self.fields[name]
        self.fields["file"].required = False  # without one, the page asks for one


class TrashForm(forms.Form):
    """Why a photo is deleted (kept in the audit trail)."""

    reason = forms.ChoiceField(
        label=_("Why is the photo deleted?"), choices=TrashReason.choices, widget=forms.RadioSelect
    )
    note = text_field(
        label=_("Note"), required=False, max_length=500, rows=2, help_text=_("Required for “Other reason”.")
    )
