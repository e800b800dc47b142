"""The PDF for the patient: the clinic, and for every view photographed twice the baseline and
the latest photo with the measured changes in plain words (the sentences of the comparison page's
summary, :func:`exoderm.photos.wording.summarize`); then what the noise means.

Patient documents carry their text in both languages here, as consent templates do
(``text_de``/``text_en``): what a patient takes home must not fall back to English because a
translation catalogue is incomplete. Nothing is claimed beyond what the comparison says: only
changes larger than the measurement noise of comparable photos are called changes, and the
page says what photos cannot show.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from typing import TYPE_CHECKING

from django.utils import translation
from fpdf import FPDF

from exoderm.clinics.logo import print_logo
from exoderm.core.permissions import Action, require
from exoderm.photos import selectors, storage
from exoderm.photos.models import View
from exoderm.photos.selectors import region_label
from exoderm.photos.wording import summarize

if TYPE_CHECKING:
    from exoderm.clinics.models import User
    from exoderm.patients.models import Patient
    from exoderm.photos.models import Photo

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your skin measurements",
        "for": "For {name}, {clinic}, {date}",
        "before": "Before: {date}",
        "after": "Latest: {date}",
        "changes": "What changed, measured on the photos",
        "too_few": "Two analysed photos of the same view are needed for a comparison. "
        "Please ask your clinic for a follow-up photo.",
        "noise_title": "About measurement noise",
        "noise": "Two photos of unchanged skin never give exactly the same numbers: light, distance "
        "and the position of the head differ a little each time. We therefore call a difference a "
        "change only when it is larger than the smallest change our method can detect reliably "
        "(measured by photographing unchanged skin several times, with 95% confidence). Smaller "
        "differences are shown as 'no measurable change'.",
        "limits_title": "What these numbers do not say",
        "limits": "The numbers describe how the skin appears on standardized photos. They are not a "
        "diagnosis and do not show what caused a change: skin also changes with the season, sun, "
        "care and age. Firmness and plumpness cannot be measured on photos.",
    },
    "de": {
        "title": "Ihre Hautmessungen",
        "for": "Für {name}, {clinic}, {date}",
        "before": "Vorher: {date}",
        "after": "Zuletzt: {date}",
        "changes": "Was sich verändert hat, gemessen auf den Fotos",
        "too_few": "Für einen Vergleich braucht es zwei ausgewertete Fotos derselben Ansicht. "
        "Bitte fragen Sie Ihre Praxis nach einem Kontrollfoto.",
        "noise_title": "Zur Messungenauigkeit",
        "noise": "Zwei Fotos unveränderter Haut ergeben nie genau dieselben Zahlen: Licht, Abstand und "
        "Kopfhaltung unterscheiden sich jedes Mal ein wenig. Wir nennen einen Unterschied deshalb nur "
        "dann eine Veränderung, wenn er größer ist als die kleinste Veränderung, die unsere Methode "
        "sicher erkennt (bestimmt durch wiederholte Fotos unveränderter Haut, mit 95 % Sicherheit). "
        "Kleinere Unterschiede erscheinen als 'keine messbare Veränderung'.",
        "limits_title": "Was diese Zahlen nicht sagen",
        "limits": "Die Zahlen beschreiben, wie die Haut auf standardisierten Fotos erscheint. Sie sind "
        "keine Diagnose und zeigen nicht, wodurch sich etwas verändert hat: Haut verändert sich auch "
        "mit Jahreszeit, Sonne, Pflege und Alter. Festigkeit und Fülle lassen sich auf Fotos nicht messen.",
    },
}

#: The views tried for the comparison, in this order.
VIEW_ORDER = (View.FRONT, View.LEFT_45, View.RIGHT_45, View.CLOSE_UP)


def _latin1(text: str) -> str:
    """The PDF core fonts speak Latin-1: replace the few typographic characters beyond it."""
    for a, b in (("–", "-"), ("—", "-"), ("≥", ">="), ("≤", "<="), ("’", "'"), ("“", '"'), ("”", '"')):
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


def _pairs(patient: Patient) -> list[tuple[Photo, Photo]]:
    """Baseline and latest photo of every view (and close-up area) with both analysed."""
    photos = list(selectors.photos_of(patient=patient))
    pairs = []
    for view in VIEW_ORDER:
        for area in sorted({p.area for p in photos if p.view == view}):
            pair = selectors.baseline_and_latest(patient=patient, view=view, area=area)
            if pair is not None and all(selectors.current_analysis(p) for p in pair):
                pairs.append(pair)
    return pairs


def view_title(photo: Photo) -> str:
    """The view of a photo (and the area of a close-up) in the active language."""
    title = str(View(photo.view).label)
    return f"{title}: {region_label(photo.area)}" if photo.area else title


def patient_report(*, patient: Patient, by: User, today: dt.date | None = None) -> bytes:
    """The PDF of ``patient``'s measured changes, every view compared, in the patient's language."""
    require(by, Action.VIEW_IDENTITY)
    identity = getattr(patient, "identity", None)
    language = identity.language if identity is not None and identity.language in TEXT else "en"
    t = TEXT[language]
    tz = zoneinfo.ZoneInfo(patient.clinic.time_zone)
    today = today or dt.datetime.now(tz).date()

    def day(moment: dt.datetime | dt.date) -> str:
        d = moment.astimezone(tz).date() if isinstance(moment, dt.datetime) else moment
        return d.strftime("%d.%m.%Y") if language == "de" else d.isoformat()

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    pdf.set_lang(language)
    pdf.set_title(t["title"])
    pdf.set_author(_latin1(patient.clinic.name))
    # the clinic's logo and name head the page
    print_logo(pdf, patient.clinic.logo_png)
    pdf.set_font("Helvetica", "B", 11)
    pdf.set_text_color(11, 92, 155)
    pdf.cell(0, 6, _latin1(patient.clinic.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(t["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    name = str(identity) if identity is not None else patient.code
    pdf.cell(
        0, 6, _latin1(t["for"].format(name=name, clinic=patient.clinic.name, date=day(today))),
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(2)

    pairs = _pairs(patient)
    # one view: large photos on one page; several: smaller, a view after another
    photo_height = 95.0 if len(pairs) <= 1 else 62.0
    width = (pdf.w - 30 - 6) / 2
    # the labels, remarks and number formats in the patient's language, not in the language of
    # the clinician who prints the report
    with translation.override(language):
        if not pairs:
            pdf.set_font("Helvetica", "B", 12)
            pdf.cell(0, 7, _latin1(t["changes"]), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 10)
            pdf.multi_cell(0, 5, _latin1(t["too_few"]), new_x="LMARGIN", new_y="NEXT")
        for before, after in pairs:
            if pdf.get_y() + photo_height + 30 > pdf.h - 15:
                pdf.add_page()
            if len(pairs) > 1:
                pdf.set_font("Helvetica", "B", 13)
                pdf.cell(0, 7, _latin1(view_title(before)), new_x="LMARGIN", new_y="NEXT")
            top = pdf.get_y()
            height = 0.0
            pdf.set_font("Helvetica", "", 10)
            for i, (photo, key) in enumerate(zip((before, after), ("before", "after"), strict=True)):
                x = 15 + i * (width + 6)
                h = min(width * photo.height / photo.width, photo_height)
                w = h * photo.width / photo.height
                pdf.image(io.BytesIO(storage.read(photo.file_name)), x=x + (width - w) / 2, y=top, w=w, h=h)
                pdf.set_xy(x, top + h + 1)
                pdf.cell(width, 5, _latin1(t[key].format(date=day(photo.taken_at))), align="C")
                height = max(height, h + 7)
            pdf.set_xy(15, top + height + 2)
            pdf.set_font("Helvetica", "B", 12)
            pdf.cell(0, 7, _latin1(t["changes"]), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 10)
            for line in _change_lines(before, after, language, t):
                pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    for title, body in (("noise_title", "noise"), ("limits_title", "limits")):
        pdf.ln(1)
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 6, _latin1(t[title]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 4.5, _latin1(t[body]), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _change_lines(before: Photo, after: Photo, language: str, t: dict[str, str]) -> list[str]:
    comparison = selectors.compare_photos(before=before, after=after)
    if comparison is None:
        return [t["too_few"]]
    return summarize(comparison, language)
