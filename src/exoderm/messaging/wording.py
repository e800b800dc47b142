"""The built-in wording of every message, per kind, channel and language, and how a text is filled in.

Texts are per language on purpose (a message is worded in the *patient's* language, not the
reader's), so they are written out here rather than translated by gettext; a clinic admin replaces
any of them with the clinic's own (:class:`~exoderm.messaging.models.MessageTemplate`).

A text names the values it needs as ``{{ name }}`` (:data:`PLACEHOLDERS`), nothing else: no code,
no attribute access, and only what the message needs. Subjects and SMS texts name no treatment
(a subject is read by whoever sees the inbox, an SMS on a locked screen).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from exoderm.messaging.models import Channel, MessageKind

PLACEHOLDERS = ("given_name", "family_name", "clinic_name", "date", "time")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# An SMS of more than 3 segments (153 characters each, or 67 with umlauts) costs and splits badly.
SMS_MAX_LENGTH = 459


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str


_SIGNATURE_DE = "\n\nIhr Team von {{ clinic_name }}"
_SIGNATURE_EN = "\n\nYour team at {{ clinic_name }}"

DEFAULTS: dict[tuple[str, str, str], Wording] = {
    # reminders before a visit
    (MessageKind.VISIT_REMINDER, Channel.EMAIL, "de"): Wording(
        "Erinnerung an Ihren Termin am {{ date }}",
        "Guten Tag {{ given_name }} {{ family_name }},\n\nwir erinnern Sie an Ihren Termin am {{ date }} "
        "um {{ time }} Uhr. Wenn Sie den Termin nicht wahrnehmen können, sagen Sie bitte ab, damit wir "
        "ihn neu vergeben können." + _SIGNATURE_DE,
    ),
    (MessageKind.VISIT_REMINDER, Channel.EMAIL, "en"): Wording(
        "Reminder of your appointment on {{ date }}",
        "Dear {{ given_name }} {{ family_name }},\n\nthis is a reminder of your appointment on {{ date }} "
        "at {{ time }}. If you cannot come, please let us know so that we can give the time to "
        "someone else." + _SIGNATURE_EN,
    ),
    (MessageKind.VISIT_REMINDER, Channel.SMS, "de"): Wording(
        "", "{{ clinic_name }}: Erinnerung an Ihren Termin am {{ date }} um {{ time }} Uhr."
    ),
    (MessageKind.VISIT_REMINDER, Channel.SMS, "en"): Wording(
        "", "{{ clinic_name }}: a reminder of your appointment on {{ date }} at {{ time }}."
    ),
    # aftercare after microneedling with exosomes
    (MessageKind.AFTERCARE_MICRONEEDLING, Channel.EMAIL, "de"): Wording(
        "Ihre Pflegehinweise für die nächsten Tage",
        "Guten Tag {{ given_name }} {{ family_name }},\n\n"
        "für die Tage nach Ihrer Behandlung vom {{ date }}:\n"
        "- 24 Stunden: das behandelte Areal nicht waschen (nur lauwarmes Wasser), kein Make-up.\n"
        "- 48 Stunden: kein Sport, keine Sauna, kein Schwimmbad.\n"
        "- 7 Tage: keine Peelings, keine Retinoide, keine Säuren (AHA/BHA, Vitamin C).\n"
        "- 4 Wochen: Sonne meiden, täglich Sonnenschutz LSF 50.\n"
        "Rötung und ein leichtes Spannungsgefühl sind für 1 bis 3 Tage normal.\n\n"
        "Rufen Sie uns an bei zunehmender Rötung oder Schwellung nach dem dritten Tag, Bläschen, "
        "Eiter, Fieber oder starken Schmerzen." + _SIGNATURE_DE,
    ),
    (MessageKind.AFTERCARE_MICRONEEDLING, Channel.EMAIL, "en"): Wording(
        "Your care instructions for the next days",
        "Dear {{ given_name }} {{ family_name }},\n\nfor the days after your treatment on {{ date }}:\n"
        "- 24 hours: do not wash the treated skin (lukewarm water only), no make-up.\n"
        "- 48 hours: no exercise, sauna or swimming pool.\n"
        "- 7 days: no scrubs, retinoids or acids (AHA/BHA, vitamin C).\n"
        "- 4 weeks: avoid the sun, use sunscreen SPF 50 every day.\n"
        "Redness and a slight tightness are normal for 1 to 3 days.\n\n"
        "Call us if redness or swelling increases after the third day, or with blisters, pus, fever "
        "or severe pain." + _SIGNATURE_EN,
    ),
    (MessageKind.AFTERCARE_MICRONEEDLING, Channel.SMS, "de"): Wording(
        "",
        "{{ clinic_name }}: Nach Ihrer Behandlung: 48 h kein Sport, keine Sauna; 7 Tage keine Peelings "
        "oder Säuren; 4 Wochen täglich LSF 50. Bei Bläschen, Fieber oder starken Schmerzen rufen Sie uns an.",
    ),
    (MessageKind.AFTERCARE_MICRONEEDLING, Channel.SMS, "en"): Wording(
        "",
        "{{ clinic_name }}: after your treatment: no exercise or sauna for 48 h; no scrubs or acids for "
        "7 days; SPF 50 every day for 4 weeks. Call us with blisters, fever or severe pain.",
    ),
    # aftercare after a fractional laser with exosomes
    (MessageKind.AFTERCARE_LASER, Channel.EMAIL, "de"): Wording(
        "Ihre Pflegehinweise für die nächsten Tage",
        "Guten Tag {{ given_name }} {{ family_name }},\n\n"
        "für die Tage nach Ihrer Behandlung vom {{ date }}:\n"
        "- 48 Stunden: kühlen, nicht reiben oder kratzen, kein Make-up.\n"
        "- 1 Woche: kein Sport, keine Sauna, kein Schwimmbad; Krusten nicht ablösen.\n"
        "- 2 Wochen: keine Peelings, keine Retinoide, keine Säuren.\n"
        "- 6 Wochen: Sonne und Solarium meiden, täglich Sonnenschutz LSF 50.\n"
        "Rötung, Schwellung und leichtes Schuppen sind für bis zu 7 Tage normal.\n\n"
        "Rufen Sie uns an bei Bläschen, nässenden Stellen, Eiter, Fieber, starken Schmerzen oder "
        "wenn die Rötung nach einer Woche nicht abnimmt." + _SIGNATURE_DE,
    ),
    (MessageKind.AFTERCARE_LASER, Channel.EMAIL, "en"): Wording(
        "Your care instructions for the next days",
        "Dear {{ given_name }} {{ family_name }},\n\nfor the days after your treatment on {{ date }}:\n"
        "- 48 hours: keep the skin cool, do not rub or scratch it, no make-up.\n"
        "- 1 week: no exercise, sauna or swimming pool; do not pick at crusts.\n"
        "- 2 weeks: no scrubs, retinoids or acids.\n"
        "- 6 weeks: avoid the sun and tanning beds, use sunscreen SPF 50 every day.\n"
        "Redness, swelling and slight flaking are normal for up to 7 days.\n\n"
        "Call us with blisters, weeping skin, pus, fever, severe pain, or if the redness has not "
        "faded after a week." + _SIGNATURE_EN,
    ),
    (MessageKind.AFTERCARE_LASER, Channel.SMS, "de"): Wording(
        "",
        "{{ clinic_name }}: Nach Ihrer Behandlung: 1 Woche kein Sport, keine Sauna, Krusten nicht "
        "ablösen; 6 Wochen Sonne meiden, täglich LSF 50. Bei Bläschen, Fieber oder starken Schmerzen rufen "
        "Sie uns an.",
    ),
    (MessageKind.AFTERCARE_LASER, Channel.SMS, "en"): Wording(
        "",
        "{{ clinic_name }}: after your treatment: no exercise or sauna for 1 week, do not pick at crusts; "
        "avoid the sun for 6 weeks, SPF 50 every day. Call us with blisters, fever or severe pain.",
    ),
    # check-in on day 2
    (MessageKind.CHECK_IN, Channel.EMAIL, "de"): Wording(
        "Wie geht es Ihnen?",
        "Guten Tag {{ given_name }} {{ family_name }},\n\nzwei Tage nach Ihrer Behandlung möchten wir "
        "wissen, wie es Ihnen geht. Rötung und Spannungsgefühl sollten jetzt abnehmen. Wenn etwas "
        "anders ist als erwartet, rufen Sie uns bitte an." + _SIGNATURE_DE,
    ),
    (MessageKind.CHECK_IN, Channel.EMAIL, "en"): Wording(
        "How are you?",
        "Dear {{ given_name }} {{ family_name }},\n\ntwo days after your treatment we would like to know "
        "how you are. Redness and tightness should now be fading. If anything is not as you expected, "
        "please call us." + _SIGNATURE_EN,
    ),
    (MessageKind.CHECK_IN, Channel.SMS, "de"): Wording(
        "",
        "{{ clinic_name }}: Wie geht es Ihnen zwei Tage nach der Behandlung? Wenn etwas anders ist "
        "als erwartet, rufen Sie uns bitte an.",
    ),
    (MessageKind.CHECK_IN, Channel.SMS, "en"): Wording(
        "",
        "{{ clinic_name }}: how are you two days after your treatment? If anything is not as you "
        "expected, please call us.",
    ),
    # invitation to book a follow-up
    (MessageKind.FOLLOW_UP_INVITATION, Channel.EMAIL, "de"): Wording(
        "Bitte vereinbaren Sie Ihren Kontrolltermin",
        "Guten Tag {{ given_name }} {{ family_name }},\n\nIhr Kontrolltermin ist ab dem {{ date }} fällig. "
        "Bitte rufen Sie uns an oder antworten Sie auf diese E-Mail, um einen Termin zu vereinbaren."
        + _SIGNATURE_DE,
    ),
    (MessageKind.FOLLOW_UP_INVITATION, Channel.EMAIL, "en"): Wording(
        "Please book your follow-up visit",
        "Dear {{ given_name }} {{ family_name }},\n\nyour follow-up visit is due from {{ date }}. Please "
        "call us or reply to this e-mail to book a time." + _SIGNATURE_EN,
    ),
    (MessageKind.FOLLOW_UP_INVITATION, Channel.SMS, "de"): Wording(
        "",
        "{{ clinic_name }}: Ihr Kontrolltermin ist ab dem {{ date }} fällig. Bitte rufen Sie uns "
        "für einen Termin an.",
    ),
    (MessageKind.FOLLOW_UP_INVITATION, Channel.SMS, "en"): Wording(
        "", "{{ clinic_name }}: your follow-up visit is due from {{ date }}. Please call us to book a time."
    ),
    # recall notice
    (MessageKind.RECALL_NOTICE, Channel.EMAIL, "de"): Wording(
        "Wichtige Information zu Ihrer Behandlung",
        "Guten Tag {{ given_name }} {{ family_name }},\n\nder Hersteller hat eine Charge eines Produkts "
        "zurückgerufen, das bei Ihrer Behandlung am {{ date }} verwendet wurde. Bitte rufen Sie uns an, "
        "damit wir mit Ihnen besprechen, was das für Sie bedeutet." + _SIGNATURE_DE,
    ),
    (MessageKind.RECALL_NOTICE, Channel.EMAIL, "en"): Wording(
        "Important information about your treatment",
        "Dear {{ given_name }} {{ family_name }},\n\nthe manufacturer has recalled a lot of a product "
        "used in your treatment on {{ date }}. Please call us so that we can discuss what this means "
        "for you." + _SIGNATURE_EN,
    ),
    (MessageKind.RECALL_NOTICE, Channel.SMS, "de"): Wording(
        "",
        "{{ clinic_name }}: Wir haben eine wichtige Information zu Ihrer Behandlung am {{ date }}. "
        "Bitte rufen Sie uns an.",
    ),
    (MessageKind.RECALL_NOTICE, Channel.SMS, "en"): Wording(
        "",
        "{{ clinic_name }}: we have important information about your treatment on {{ date }}. "
        "Please call us.",
    ),
}

SAMPLE_VALUES = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "clinic_name": "Hautzentrum",
    "date": "06.12.2026",
    "time": "10:30",
}


def default_wording(kind: str, channel: str, language: str) -> Wording:
    """The built-in wording; English where a language has none."""
    return DEFAULTS.get((kind, channel, language)) or DEFAULTS[(kind, channel, "en")]


def shown_placeholder(name: str) -> str:
    """``name`` as it is written in a text."""
    return "{{ " + name + " }}"


def unknown_placeholders(text: str) -> list[str]:
    return sorted({name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS})


def check_wording(*, channel: str, subject: str, body: str) -> None:
    """Refuse a text a message could not be sent with: an unknown placeholder, a missing subject of
    an e-mail, an SMS too long."""
    errors: dict[str, list[str]] = {}
    for field, text in (("subject", subject), ("body", body)):
        unknown = unknown_placeholders(text)
        if unknown:
            errors.setdefault(field, []).append(
                _("Unknown placeholder %(names)s: use %(known)s.")
                % {
                    "names": ", ".join(shown_placeholder(name) for name in unknown),
                    "known": ", ".join(shown_placeholder(name) for name in PLACEHOLDERS),
                }
            )
    if not body.strip():
        errors.setdefault("body", []).append(_("Write the text of the message."))
    if channel == Channel.EMAIL and not subject.strip():
        errors.setdefault("subject", []).append(_("An e-mail needs a subject."))
    if channel == Channel.SMS and len(fill(body, SAMPLE_VALUES)) > SMS_MAX_LENGTH:
        errors.setdefault("body", []).append(
            _("An SMS may have at most %(count)s characters.") % {"count": SMS_MAX_LENGTH}
        )
    if errors:
        raise ValidationError(errors)


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each ``{{ name }}`` replaced by its value (an unknown one is left as it is)."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)
