"""Forms of the tablet signature and of the intake before the visit (pages in ``views/signing.py``)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from exoderm.consent.documents import MAX_SIGNATURE_BYTES
from exoderm.web.forms import ScreeningForm, text_field

PNG_DATA_URL = "data:image/png;base64,"
# base64 of the largest accepted picture, with the data URL's prefix
SIGNATURE_FIELD_LENGTH = len(PNG_DATA_URL) + 4 * (MAX_SIGNATURE_BYTES // 3 + 1) + 4


class TabletSignatureForm(forms.Form):
    """What the tablet sends: who signs, on which device, the picture of the signature as the
    canvas exports it (a PNG data URL) and the hash of the text the page showed."""

    signer_name = text_field(label=_("Name of the person signing"), max_length=200)
    device = text_field(
        label=_("Device"),
        max_length=100,
        required=False,
        help_text=_("The tablet's name, for example “Tablet reception”. The browser is recorded too."),
    )
    text_sha256 = forms.CharField(max_length=64, widget=forms.HiddenInput)
    signature = forms.CharField(
        max_length=SIGNATURE_FIELD_LENGTH,
        widget=forms.HiddenInput,
        error_messages={
            "required": _("Please sign in the box."),
            "max_length": _("The signature picture is too large."),
        },
    )

    def clean_signature(self) -> bytes:
        value: str = self.cleaned_data["signature"]
        if not value.startswith(PNG_DATA_URL):
            raise forms.ValidationError(_("The signature is not a PNG picture."))
        try:
            return base64.b64decode(value[len(PNG_DATA_URL) :], validate=True)
        except (binascii.Error, ValueError):
            raise forms.ValidationError(_("The signature could not be read: please sign again.")) from None


class IntakeAnswersForm(ScreeningForm):
    """The screening questions without the date: the patient answers today, the clinician confirms
    the answers as of the day they were given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["answered_on"]
