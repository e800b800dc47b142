"""The charting form: one session, its procedures and exosome applications, in one page.

The forms only parse what was typed; :func:`exoderm.treatments.services.record_session` decides
what is valid and what the protocol allows. Its answers name fields by path
(``applications.0.applied_at``, ``procedures.1.params.passes``); :func:`html_name` turns such a
path into the name of the input it belongs to, so each message is shown next to its field.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.urls import reverse_lazy
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from exoderm.core.text import NOTE
from exoderm.patients.models import Patient
from exoderm.products.models import Lot, LotStatus
from exoderm.treatments.models import ExosomeApplication, LaserType, Procedure, ProcedureKind
from exoderm.treatments.services import PARAMS, ApplicationInput, ProcedureInput
from exoderm.web.forms import AreasField, KeepsStoredInstants, datetime_field, reason_field, text_field

# One empty row each; "Add a procedure" / "Add an application" re-render the form with one more.
PROCEDURE_ROWS = 1
APPLICATION_ROWS = 1
MAX_ROWS = 6


class SessionForm(KeepsStoredInstants):
    patient = forms.ModelChoiceField(label=_("Patient"), queryset=Patient.objects.none())
    performed_at = datetime_field(_("Session at"))
    notes = text_field(label=_("Notes"), required=False, max_length=NOTE, rows=2)

    def __init__(self, *args: Any, patients: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["patient"]
        field.queryset = patients  # type: ignore[attr-defined]
        field.label_from_instance = patient_label  # type: ignore[attr-defined]
        # exoderm.js puts a filter box before the list (typing narrows the options)
        field.widget.attrs["data-filter"] = _("Filter by name, code or date of birth")


def patient_label(patient: Patient) -> str:
    """How a patient picker names a patient: "Family, Given (code, date of birth)"."""
    identity = patient.identity
    born = date_format(identity.date_of_birth, "SHORT_DATE_FORMAT")
    return f"{identity.family_name}, {identity.given_name} ({patient.code}, {born})"


class SessionCorrectionForm(SessionForm):
    """The session's own fields for a correction: the patient stays, a reason is required."""

    reason = reason_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"].disabled = True


def procedure_initial(procedure: Procedure) -> dict[str, Any]:
    """A recorded procedure as the initial values of its row of the form."""
    values = {name: getattr(procedure, name) for name in PARAMS[procedure.kind]}
    return {
        "kind": procedure.kind,
        "areas": list(procedure.areas),
        "started_at": procedure.started_at,
        "ended_at": procedure.ended_at,
        **{name: value for name, value in values.items() if value not in (None, "")},
    }


def application_initial(application: ExosomeApplication) -> dict[str, Any]:
    """A recorded application as the initial values of its row (the vial stays the session's)."""
    return {
        "lot": application.lot_id,
        "volume_ml": application.volume_ml,
        "areas": list(application.areas),
        "applied_at": application.applied_at,
    }


class ProcedureForm(KeepsStoredInstants):
    kind = forms.ChoiceField(
        label=_("Procedure"), choices=[("", "—"), *ProcedureKind.choices], required=False
    )
    areas = AreasField(required=False, label=_("Treated areas"))
    started_at = datetime_field(_("Started at"), required=False)
    ended_at = datetime_field(_("Ended at"), required=False)
    device = text_field(label=_("Device"), max_length=120, required=False)
    needle_depth_mm = forms.DecimalField(label=_("Needle depth (mm)"), required=False, decimal_places=2)
    laser_type = forms.ChoiceField(
        label=_("Laser type"), choices=[("", "—"), *LaserType.choices], required=False
    )
    wavelength_nm = forms.IntegerField(label=_("Wavelength (nm)"), required=False)
    pulse_energy_mj = forms.DecimalField(label=_("Pulse energy (mJ)"), required=False, decimal_places=2)
    density_pct = forms.DecimalField(label=_("Density (%)"), required=False, decimal_places=2)
    passes = forms.IntegerField(label=_("Passes"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ended_at"].widget.attrs.update(
            {"hx-get": reverse_lazy("window-hint"), "hx-trigger": "change", "hx-target": "next .window-hint"}
        )

    def is_blank(self) -> bool:
        return not self.cleaned_data.get("kind")

    def to_input(self) -> ProcedureInput:
        data = self.cleaned_data
        params = {name: data[name] for name in PARAMS[data["kind"]] if data.get(name) not in (None, "")}
        return ProcedureInput(
            kind=data["kind"],
            areas=list(data["areas"]),
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            params=params,
        )


class ApplicationForm(KeepsStoredInstants):
    lot = forms.ModelChoiceField(label=_("Lot"), queryset=Lot.objects.none(), required=False)
    volume_ml = forms.DecimalField(label=_("Volume (ml)"), required=False, decimal_places=2)
    areas = AreasField(required=False, label=_("Areas"))
    applied_at = datetime_field(_("Applied at"), required=False)

    def __init__(self, *args: Any, lots: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["lot"]
        field.queryset = lots  # type: ignore[attr-defined]
        field.label_from_instance = lambda lot: (  # type: ignore[attr-defined]
            f"{lot.product.name} {lot.number}"
            + ("" if lot.status == LotStatus.RELEASED else f" ({LotStatus(lot.status).label})")
        )
        field.widget.attrs.update(
            {"hx-get": reverse_lazy("lot-status"), "hx-trigger": "change", "hx-target": "next .lot-status"}
        )

    def is_blank(self) -> bool:
        return self.cleaned_data.get("lot") is None

    def to_input(self) -> ApplicationInput:
        data = self.cleaned_data
        return ApplicationInput(
            lot=data["lot"].pk,
            volume_ml=data["volume_ml"],
            areas=list(data["areas"]),
            applied_at=data["applied_at"],
        )


ProcedureFormSet = forms.formset_factory(ProcedureForm, extra=PROCEDURE_ROWS, max_num=MAX_ROWS)
ApplicationFormSet = forms.formset_factory(ApplicationForm, extra=APPLICATION_ROWS, max_num=MAX_ROWS)

_PATH = re.compile(r"^(procedures|applications)\.(\d+)(?:\.params)?(?:\.(\w+))?$")
# Protocol paths that name no input of their own: where the page shows them instead.
_MOVED = {"vial": "lot"}


def html_name(path: str, *, procedure_rows: list[int], application_rows: list[int]) -> str:
    """The input name (``applications-0-lot``) a service path points at, ``""`` for the page top.

    ``procedure_rows`` / ``application_rows`` map the service's positions (blank rows are not
    sent) back to the rows of the page.
    """
    match = _PATH.match(path)
    if match:
        group, index, name = match.group(1), int(match.group(2)), match.group(3)
        rows = procedure_rows if group == "procedures" else application_rows
        row = rows[index] if index < len(rows) else index
        return f"{group}-{row}" + (f"-{_MOVED.get(name, name)}" if name else "")
    head = path.split(".", 1)[0]
    if head in {"patient", "screening"}:
        return "patient"
    if head == "session":
        return path.split(".", 1)[1] if "." in path else ""
    if head in {"performed_at", "notes"}:
        return head
    return ""
