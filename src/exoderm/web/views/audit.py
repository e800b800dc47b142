"""The clinic admin's audit pages: who wrote and read what, per patient and per user."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exoderm.audit import selectors
from exoderm.audit.models import AuditAction
from exoderm.audit.reads import address_of
from exoderm.core.display import LinkedNames, event_changes, event_values, model_of, record_id
from exoderm.core.permissions import Action
from exoderm.studies.blinding import trail_changes_for
from exoderm.web.listing import listing
from exoderm.web.views.common import page, user_of

SORTS: dict[str, tuple[str, ...]] = {"at": ("at", "id")}


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("all")), *AuditAction.choices], required=False
    )
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def audit_filter(self, **subject: int) -> selectors.AuditFilter:
        """The filter of the valid fields (days on the clinic's wall clock, ``until`` inclusive)."""
        data = self.cleaned_data if self.is_valid() else {}

        def start_of(day: dt.date | None) -> dt.datetime | None:
            if day is None:
                return None
            return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

        until = data.get("until")
        return selectors.AuditFilter(
            action=AuditAction(data["action"]) if data.get("action") else None,
            since=start_of(data.get("since")),
            until=start_of(until + dt.timedelta(days=1)) if until and until < dt.date.max else None,
            **subject,
        )


def _trail(request: HttpRequest, *, title: str, **subject: int) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    found = selectors.events(by=user_of(request), filters=form.audit_filter(**subject))
    trail = listing(request, found, sorts=SORTS, default="-at", keep=("action", "since", "until"))
    reader = user_of(request)
    assert reader.clinic is not None  # the selector admits only clinic admins
    shown = trail_changes_for(user=reader)
    rows = [
        (event, model_of(event.object_type), shown(event.object_type, event.patient_id, event.changes))
        for event in trail.rows
    ]
    subjects = {
        event.pk: (model, pk)
        for event, model, _changes in rows
        if model is not None and (pk := record_id(model, event.object_id)) is not None
    }
    # What each event is about and the records its changes link to, named in one query per model
    # for the whole page.
    names = LinkedNames.look_up(
        clinic=reader.clinic,
        values=(value for _event, model, changes in rows for value in event_values(model, changes)),
        records=subjects.values(),
    )
    # A correction is one event of the corrected record with its reason; the row events of the
    # same request (a session's procedures deleted and created anew) are shown as part of it.
    corrections = {event.request_id for event in trail.rows if event.is_correction and event.request_id}
    for event, model, changes in rows:
        event.shown_changes = event_changes(model, changes, names)
        event.object_name = names.text(*subjects[event.pk]) if event.pk in subjects else event.object_id
        event.part_of_correction = not event.is_correction and event.request_id in corrections
        event.address = address_of(event.route, event.object_id, event.query) if event.route else ""
    return render(request, "web/audit/trail.html", {"listing": trail, "form": form, "title": title})


@page(Action.VIEW_AUDIT)
def patient_trail(request: HttpRequest, pk: int) -> HttpResponse:
    patient = selectors.subject_patient(by=user_of(request), patient_id=pk)
    identity = getattr(patient, "identity", None)
    name = f"{identity} · {patient.code}" if identity is not None else patient.code
    return _trail(request, title=str(_("Audit trail of %(name)s") % {"name": name}), patient=patient.pk)


@page(Action.VIEW_AUDIT)
def user_trail(request: HttpRequest, pk: int) -> HttpResponse:
    account = selectors.subject_user(by=user_of(request), user_id=pk)
    return _trail(
        request,
        title=str(_("Audit trail of the user %(name)s") % {"name": account.username}),
        user=account.pk,
    )
