"""Forms of the pages. They parse and label input; the services decide what is valid."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models.fields import BLANK_CHOICE_LABEL
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from exoderm.clinics import logo as clinic_logo
from exoderm.clinics.middleware import client_address
from exoderm.clinics.models import GERMAN_STATES, Clinic, Role, SignInScope, User
from exoderm.clinics.services import SignInLocked, sign_in_with_password
from exoderm.consent.models import ConsentKind
from exoderm.core.areas import Area
from exoderm.core.contraindications import AREA_SPECIFIC, ScreeningItem
from exoderm.core.text import DOCUMENT, NOTE, SHORT_TEXT, validate_storable
from exoderm.courses.models import CourseTemplate
from exoderm.patients.models import Fitzpatrick, Glogau
from exoderm.patients.services import Answer
from exoderm.photos.models import View
from exoderm.products.models import Product, Source, StorageForm
from exoderm.records.models import REASON_MAX_LENGTH

# Django 6.1 labels the empty choice of a select "- Select an option -" (BLANK_CHOICE_LABEL), which
# its German catalogue does not translate yet: named here, it goes into ours.
gettext_noop("- Select an option -")


def text_field(*, max_length: int, rows: int | None = None, **kwargs: Any) -> forms.CharField:
    """A text field of a page with the API's rule for texts (``exoderm.core.text``): at most
    ``max_length`` characters (the column's length, or one of the limits there), no NUL character,
    no lone surrogate. ``rows`` makes it a text area."""
    if rows is not None:
        kwargs["widget"] = forms.Textarea(attrs={"rows": rows})
    return forms.CharField(max_length=max_length, validators=[validate_storable], **kwargs)


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's date-and-time picker; the value is the clinic's wall-clock time."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def datetime_field(label: str | Any, **kwargs: Any) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, widget=DateTimeLocalInput(), input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"], **kwargs
    )


class KeepsStoredInstants(forms.Form):
    """A form prefilled with stored instants keeps those the user left alone.

    A date-time input holds minutes, so an instant stored with seconds (one the API or a data
    logger wrote) comes back cut to its minute, and saving the form unchanged would correct a time
    nobody touched (a QA walk saw "Erhalten am 09:43 → 09:43" after correcting only a lot's expiry
    date). Where the submitted value is the initial one cut to its minute, the initial one stays.
    """

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, field in self.fields.items():
            if not isinstance(field, forms.DateTimeField):
                continue
            # the initial as given: get_initial_for_field drops its microseconds
            stored, submitted = self.initial.get(name, field.initial), cleaned.get(name)
            if (
                isinstance(stored, dt.datetime)
                and isinstance(submitted, dt.datetime)
                and timezone.is_aware(stored)
                and stored.replace(second=0, microsecond=0) == submitted
            ):
                cleaned[name] = stored
        return cleaned


def now_local() -> dt.datetime:
    """Now on the clinic's wall clock, to the minute (the initial value of time fields)."""
    return timezone.localtime().replace(second=0, microsecond=0)


class AreasField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Areas"))
        super().__init__(choices=Area.choices, **kwargs)


class PatientSearchForm(forms.Form):
    q = text_field(label=_("Name or code"), required=False, max_length=100)


class PatientIdentityForm(forms.Form):
    given_name = text_field(label=_("Given name"), max_length=120)
    family_name = text_field(label=_("Family name"), max_length=120)
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DateInput())
    email = forms.EmailField(label=_("Email"), required=False)
    phone = text_field(label=_("Phone"), required=False, max_length=40)
    address = text_field(label=_("Address"), required=False, max_length=NOTE, rows=2)
    language = forms.ChoiceField(label=_("Language"), choices=[("de", "Deutsch"), ("en", "English")])


def reason_field() -> forms.CharField:
    """The reason a correction needs; kept with the old version of the record."""
    return forms.CharField(
        label=_("Reason for the correction"),
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept with the old version, which stays readable."),
    )


class PatientCorrectionForm(PatientIdentityForm):
    reason = reason_field()


class PatientForm(PatientIdentityForm):
    # No class is chosen for the clinician: a preselected "I" was saved unnoticed, and the skin type
    # decides a patient's study eligibility and the photos' analysis.
    fitzpatrick = forms.TypedChoiceField(
        label=_("Fitzpatrick skin type"), choices=[("", BLANK_CHOICE_LABEL), *Fitzpatrick.choices], coerce=int
    )
    glogau = forms.TypedChoiceField(
        label=_("Glogau photoaging class"), choices=[("", BLANK_CHOICE_LABEL), *Glogau.choices], coerce=int
    )
    code = text_field(
        label=_("Pseudonymous code"),
        required=False,
        max_length=32,
        help_text=_("Leave empty to generate one."),
    )
    # hidden until the clinic has a patient with the same names and date of birth
    allow_duplicate = forms.BooleanField(
        label=_("Create anyway: this is another person"), required=False, widget=forms.HiddenInput
    )

    def ask_to_confirm_duplicate(self) -> None:
        self.fields["allow_duplicate"].widget = forms.CheckboxInput()


SCAN_ACCEPT = "application/pdf,image/jpeg,image/png,.pdf,.jpg,.jpeg,.png"


def scan_field(*, required: bool) -> forms.FileField:
    """The scan of the signed paper; its format and size are the service's to check, by content."""
    return forms.FileField(
        label=_("Scan of the signed form"),
        required=required,
        help_text=_("PDF, JPEG or PNG, at most 10 MB. Kept encrypted with the consent."),
        widget=forms.ClearableFileInput(attrs={"accept": SCAN_ACCEPT}),
    )


class SignConsentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Consent"), choices=ConsentKind.choices)
    signed_by_name = text_field(label=_("Signed by (name)"), max_length=200)
    signed_at = datetime_field(_("Signed at"))
    scan = scan_field(required=False)


class ConsentScanForm(forms.Form):
    scan = scan_field(required=True)


class EnrolForm(forms.Form):
    template = forms.ModelChoiceField(label=_("Course template"), queryset=CourseTemplate.objects.none())
    clinician = forms.ModelChoiceField(label=_("Clinician"), queryset=User.objects.none())
    starts_at = datetime_field(_("First session at"))

    def __init__(self, *args: Any, templates: Any, clinicians: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates  # type: ignore[attr-defined]
        self.fields["clinician"].queryset = clinicians  # type: ignore[attr-defined]
        self.fields["clinician"].label_from_instance = lambda user: user.display_name  # type: ignore[attr-defined]


class CourseTemplateForm(forms.Form):
    name = text_field(label=_("Name"), max_length=200)
    session_count = forms.IntegerField(label=_("Sessions"), min_value=1, max_value=24, initial=3)
    interval_weeks = forms.IntegerField(
        label=_("Weeks between sessions"), min_value=1, max_value=52, initial=4
    )
    followup_weeks = text_field(
        label=_("Follow-ups (weeks after each session)"),
        max_length=SHORT_TEXT,
        initial="2, 6",
        help_text=_("Whole weeks, separated by commas."),
        required=False,
    )
    window_days = forms.IntegerField(label=_("Due window (± days)"), min_value=0, max_value=28, initial=3)

    def clean_followup_weeks(self) -> list[int]:
        text = self.cleaned_data["followup_weeks"]
        try:
            return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError(_("Give whole weeks separated by commas, like 2, 6.")) from None


class UserForm(forms.Form):
    username = text_field(label=_("Username"), max_length=150)
    first_name = text_field(label=_("Given name"), max_length=150, required=False)
    last_name = text_field(label=_("Family name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Browser setting")), ("de", "Deutsch"), ("en", "English")],
        required=False,
    )
    password = text_field(
        # not sent back to the browser after a refusal: typed again
        label=_("Initial password"),
        max_length=SHORT_TEXT,
        widget=forms.PasswordInput(),
        help_text=_("Temporary: the user chooses their own password at the first sign-in."),
    )


class GroupClinicForm(forms.Form):
    """A further clinic of the group and its first administrator (``clinics.groups``)."""

    name = text_field(label=_("Name of the clinic"), max_length=200)  # Clinic.name
    time_zone = text_field(
        label=_("Time zone"),
        max_length=64,  # Clinic.time_zone
        initial="Europe/Berlin",
        help_text=_("IANA name, e.g. Europe/Berlin."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=[("de", "Deutsch"), ("en", "English")])
    holiday_state = forms.ChoiceField(
        label=_("Federal state (public holidays)"),
        choices=[("", _("Nationwide holidays only")), *GERMAN_STATES],
        required=False,
    )
    admin_username = text_field(label=_("Username of the clinic administrator"), max_length=150)
    admin_email = forms.EmailField(
        label=_("E-mail of the clinic administrator"),
        help_text=_("A new link to set the password goes there if the first one has lapsed."),
    )


class UserChangeForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    is_active = forms.BooleanField(label=_("Active (may log in)"), required=False)


class ReasonForm(forms.Form):
    reason = text_field(label=_("Reason"), rows=3, max_length=NOTE)


class ErasureRequestForm(forms.Form):
    received_on = forms.DateField(label=_("Request received on"), widget=DateInput())
    erase_photos = forms.TypedChoiceField(
        label=_("Photos"),
        choices=[
            ("yes", _("Erase every photo now")),
            ("no", _("Keep the photos with the restricted record (treatment documentation)")),
        ],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note (how the request came in; no identifying details)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class UnlockForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you need to read this record?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ReceiveLotForm(forms.Form):
    product = forms.ModelChoiceField(label=_("Product"), queryset=Product.objects.none())
    number = text_field(label=_("Lot number"), max_length=64)
    expires_on = forms.DateField(label=_("Expires on"), widget=DateInput())
    vials_received = forms.IntegerField(label=_("Vials received"), min_value=1, max_value=10_000)
    received_at = datetime_field(_("Received at"))
    logger_interval_minutes = forms.IntegerField(
        label=_("Temperature logger interval (minutes)"), min_value=1, max_value=1440, initial=15
    )

    def __init__(self, *args: Any, products: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products  # type: ignore[attr-defined]


class ReleaseForm(forms.Form):
    reason = text_field(
        label=_("Reason"),
        rows=3,
        max_length=NOTE,
        required=False,
        help_text=_("Required when the cold-chain check quarantined the lot."),
    )


class TemperatureUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Temperature logger CSV"),
        help_text=_(
            "The logger software's CSV export (Testo, ELPRO, LogTag and others) or one reading a line: "
            "time, degrees Celsius. Times without a UTC offset are the clinic's time. You see what "
            "was read before anything is saved."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > settings.TEMPERATURE_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(limit)s; export a shorter period.")
                % {"limit": filesizeformat(settings.TEMPERATURE_UPLOAD_MAX_BYTES)}
            )
        return upload


class TemperatureConfirmForm(forms.Form):
    """The second step of an upload: names the previewed file by its SHA-256, never carries it."""

    sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", max_length=64, widget=forms.HiddenInput)


class ProductForm(forms.Form):
    name = text_field(label=_("Name"), max_length=200)
    manufacturer = text_field(label=_("Manufacturer"), max_length=200, required=False)
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices)
    storage_form = forms.ChoiceField(label=_("Storage form"), choices=StorageForm.choices)
    storage_min_c = forms.DecimalField(label=_("Storage minimum (°C)"), max_digits=5, decimal_places=1)
    storage_max_c = forms.DecimalField(label=_("Storage maximum (°C)"), max_digits=5, decimal_places=1)
    use_by_minutes = forms.IntegerField(
        label=_("Use within (minutes after thaw or reconstitution)"), min_value=1
    )
    max_freeze_thaw_cycles = forms.IntegerField(label=_("Maximum freeze-thaw cycles"), min_value=0, initial=1)
    volume_min_ml = forms.DecimalField(
        label=_("Volume per area, minimum (ml)"), max_digits=6, decimal_places=2
    )
    volume_max_ml = forms.DecimalField(
        label=_("Volume per area, maximum (ml)"), max_digits=6, decimal_places=2
    )
    vial_volume_ml = forms.DecimalField(
        label=_("Volume per vial (ml)"), max_digits=6, decimal_places=2, initial=Decimal("5")
    )


class RescheduleForm(forms.Form):
    planned_at = datetime_field(_("New time"))


class ScreeningForm(forms.Form):
    """One answer per contraindication item, with areas and the last dose where they matter."""

    answered_on = forms.DateField(label=_("Answered on"), widget=DateInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item, label in ScreeningItem.choices:
            self.fields[f"{item}_present"] = forms.TypedChoiceField(
                label=label,
                choices=[("no", _("no")), ("yes", _("yes"))],
                coerce=lambda value: value == "yes",
                widget=forms.RadioSelect,
            )
            if item in AREA_SPECIFIC:
                self.fields[f"{item}_areas"] = AreasField(
                    required=False, label=_("Areas (empty: everywhere)")
                )
            if item == ScreeningItem.ISOTRETINOIN:
                self.fields[f"{item}_last_dose_on"] = forms.DateField(
                    label=_("Last dose on"), required=False, widget=DateInput()
                )
            self.fields[f"{item}_note"] = text_field(label=_("Note"), required=False, max_length=500)

    def items(self) -> list[dict[str, Any]]:
        """The fields per item, for the template."""
        return [
            {
                "label": label,
                "fields": [self[name] for name in self.fields if name.startswith(f"{item}_")],
            }
            for item, label in ScreeningItem.choices
        ]

    def answers(self) -> list[Answer]:
        data = self.cleaned_data
        return [
            Answer(
                item=item,
                present=data[f"{item}_present"],
                areas=list(data.get(f"{item}_areas") or []),
                last_dose_on=data.get(f"{item}_last_dose_on"),
                note=data.get(f"{item}_note", ""),
            )
            for item in ScreeningItem.values
        ]

    @staticmethod
    def field_of(path: str) -> str:
        """The form field of a service error path like ``answers.2.areas``."""
        parts = path.split(".")
        if parts[0] == "answers" and len(parts) == 3 and parts[1].isdigit():
            return f"{ScreeningItem.values[int(parts[1])]}_{parts[2]}"
        return parts[0]


class ConsentTemplateForm(forms.Form):
    kind = forms.ChoiceField(label=_("Consent"), choices=ConsentKind.choices)
    title_de = text_field(label=_("Title (German)"), max_length=200)
    text_de = text_field(label=_("Text (German)"), max_length=DOCUMENT, rows=6)
    title_en = text_field(label=_("Title (English)"), max_length=200)
    text_en = text_field(label=_("Text (English)"), max_length=DOCUMENT, rows=6)


class ClinicSettingsForm(forms.Form):
    application_window_minutes = forms.IntegerField(
        label=_("Application window after a procedure (minutes)"), min_value=1, max_value=240
    )
    mfa_required = forms.BooleanField(
        label=_("Every user signs in with a second factor (authenticator app)"),
        help_text=_("Clinic administrators always do."),
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("block", _("block the session")), ("warn", _("warn")), ("off", _("not checked"))]
        for item, label in ScreeningItem.choices:
            self.fields[f"severity_{item}"] = forms.ChoiceField(label=label, choices=choices)

    def severities(self) -> dict[str, str]:
        return {item: self.cleaned_data[f"severity_{item}"] for item in ScreeningItem.values}


class ClinicLogoForm(forms.Form):
    """Upload the clinic's logo; its check and re-encoding are :func:`exoderm.clinics.logo.clean_logo`'s."""

    logo = forms.FileField(
        label=_("Logo (PNG or JPEG)"),
        help_text=_("Printed at the head of the patient's documents; a large picture is scaled down."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg"}),
    )

    def clean_logo(self) -> bytes:
        upload = self.cleaned_data["logo"]
        if upload.size > clinic_logo.MAX_UPLOAD_BYTES:  # refused before it is read
            raise forms.ValidationError(
                _("The logo is too large (at most %(mb)d MB).")
                % {"mb": clinic_logo.MAX_UPLOAD_BYTES // 1024**2}
            )
        return bytes(upload.read())


class StudyOutcomesForm(forms.Form):
    """Which outcomes a researcher downloads: all, or one course template's, or one view's."""

    course_template = forms.ModelChoiceField(
        label=_("Course"),
        queryset=CourseTemplate.objects.none(),
        required=False,
        empty_label=_("All courses"),
    )
    view = forms.ChoiceField(label=_("View"), choices=[("", _("All views")), *View.choices], required=False)

    def __init__(self, *args: Any, templates: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["course_template"].queryset = templates  # type: ignore[attr-defined]


class ScreeningCorrectionForm(forms.Form):
    """One recorded screening answer, corrected; the item stays."""

    present = forms.TypedChoiceField(
        label=_("Present"),
        choices=[("no", _("no")), ("yes", _("yes"))],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    areas = AreasField(required=False, label=_("Areas (empty: everywhere)"))
    last_dose_on = forms.DateField(label=_("Last dose on"), required=False, widget=DateInput())
    note = forms.CharField(label=_("Note"), required=False, max_length=500)
    answered_on = forms.DateField(label=_("Answered on"), widget=DateInput())
    reason = reason_field()


class ConsentCorrectionForm(KeepsStoredInstants):
    signed_by_name = forms.CharField(label=_("Signed by (name)"), max_length=200)
    signed_at = datetime_field(_("Signed at"))
    reason = reason_field()


class LotCorrectionForm(KeepsStoredInstants):
    number = forms.CharField(label=_("Lot number"), max_length=64)
    expires_on = forms.DateField(label=_("Expires on"), widget=DateInput())
    received_at = datetime_field(_("Received at"))
    reason = reason_field()


class SignInForm(AuthenticationForm):
    """Django's login form, counted and locked by the sign-in throttle (exoderm.clinics.services)."""

    # Django's fields with the rule every page text follows (a lone surrogate in a username was a 500)
    username = text_field(
        max_length=SHORT_TEXT,
        label=_("Username"),
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocapitalize": "none", "autocomplete": "username"}
        ),
    )
    password = text_field(
        max_length=SHORT_TEXT,
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data
        try:
            user = sign_in_with_password(
                username=username,
                password=password,
                address=client_address(self.request) if self.request is not None else None,
                request=self.request,
            )
        except SignInLocked as locked:
            raise locked_error(locked) from None
        if user is None:
            raise self.get_invalid_login_error()
        self.user_cache = user
        self.confirm_login_allowed(user)
        return self.cleaned_data


def sign_in_time_zone() -> zoneinfo.ZoneInfo:
    """The zone a page before sign-in states times in: the clinics' zone where they all share one
    (as the clinic's pages state them), else the server's. Asked of all clinics, never of the
    typed name's, so that the answer tells nothing about whether the name exists."""
    zones = set(Clinic.objects.values_list("time_zone", flat=True).distinct()[:2])
    return zoneinfo.ZoneInfo(zones.pop()) if len(zones) == 1 else zoneinfo.ZoneInfo(settings.TIME_ZONE)


def locked_error(locked: SignInLocked) -> forms.ValidationError:
    zone = sign_in_time_zone()
    until = locked.until.astimezone(zone)
    # a clinic administrator lifts the lock of a user; an address lock only ends with its time
    message = (
        _(
            "Too many failed sign-ins from this network: signing in is locked until %(time)s "
            "(%(minutes)s minutes)."
        )
        if locked.scope == SignInScope.ADDRESS
        else _(
            "Too many failed sign-ins: signing in is locked until %(time)s (%(minutes)s minutes). "
            "A clinic administrator can lift the lock."
        )
    )
    return forms.ValidationError(
        message,
        code="locked",
        params={
            "time": f"{date_format(until, 'H:i')} ({zone.key})",
            "minutes": (locked.retry_after_seconds + 59) // 60,
        },
    )


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )


class TotpConfirmForm(forms.Form):
    code = forms.CharField(
        label=_("The 6-digit code your authenticator app shows now"),
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
