"""The one-page PDF for the patient: two photos, the measured changes in plain words, the noise.

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

from exoderm.core.permissions import Action, require
from exoderm.photos import selectors, storage
from exoderm.photos.models import View
from exoderm.photos.wording import word_remark

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
        "lower": "{label}: lower by {delta} (from {before} to {after}).",
        "higher": "{label}: higher by {delta} (from {before} to {after}).",
        "none_beyond": "No change was larger than the measurement noise.",
        "no_change": "No measurable change: {labels}.",
        "not_judged": "Not judged (no noise estimate for these values): {labels}.",
        "not_comparable": "These two photos cannot be compared reliably, so no change is reported. "
        "Reasons: {reasons}.",
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
        "lower": "{label}: niedriger um {delta} (von {before} auf {after}).",
        "higher": "{label}: höher um {delta} (von {before} auf {after}).",
        "none_beyond": "Keine Veränderung war größer als die Messungenauigkeit.",
        "no_change": "Keine messbare Veränderung: {labels}.",
        "not_judged": "Nicht beurteilt (keine Schätzung der Messungenauigkeit für diese Werte): {labels}.",
        "not_comparable": "Diese beiden Fotos lassen sich nicht zuverlässig vergleichen, daher wird keine "
        "Veränderung angegeben. Gründe: {reasons}.",
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

LABELS_DE: dict[str, str] = {
    "L_median": "Helligkeit (L*)",
    "a_median": "Rotanteil des Hauttons (a*)",
    "b_median": "Gelbanteil des Hauttons (b*)",
    "ita_deg": "Hauttonwinkel (ITA°)",
    "tone_sd_L": "Ungleichmäßigkeit des Hauttons",
    "spot_count": "Pigmentflecken (Anzahl)",
    "spot_area_mm2": "Fläche der Pigmentflecken (mm²)",
    "spot_area_pct": "Fläche der Pigmentflecken (%)",
    "red_area_pct": "gerötete Fläche (%)",
    "a_excess_mean": "Stärke der Rötung",
    "wrinkle_count": "feine Linien (Anzahl)",
    "wrinkle_length_mm": "Länge feiner Linien (mm)",
    "wrinkle_density": "Dichte feiner Linien (mm/cm²)",
    "texture_rms": "feine Rauigkeit",
    "pore_count": "Poren (Anzahl)",
    "pore_density": "Porendichte (pro cm²)",
}

#: The views tried for the comparison, in this order.
VIEW_ORDER = (View.FRONT, View.LEFT_45, View.RIGHT_45, View.CLOSE_UP)


def _latin1(text: str) -> str:
    """The PDF core fonts speak Latin-1: replace the few typographic characters beyond it."""
    for a, b in (("–", "-"), ("—", "-"), ("≥", ">="), ("≤", "<="), ("’", "'"), ("“", '"'), ("”", '"')):
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


def _label(key: str, language: str) -> str:
    if language == "de":
        return LABELS_DE.get(key, key)
    label = selectors.METRICS.get(key, (key, None))[0]
    return str(label)


def _number(value: float | None) -> str:
    return "-" if value is None else selectors.number_text(value)


def _pair(patient: Patient) -> tuple[Photo, Photo] | None:
    photos = list(selectors.photos_of(patient=patient))
    for view in VIEW_ORDER:
        areas = sorted({p.area for p in photos if p.view == view})
        for area in areas:
            pair = selectors.baseline_and_latest(patient=patient, view=view, area=area)
            if pair is not None and all(selectors.current_analysis(p) for p in pair):
                return pair
    return None


def patient_report(*, patient: Patient, by: User, today: dt.date | None = None) -> bytes:
    """The one-page PDF of ``patient``'s measured changes, in the patient's language."""
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
    pdf.set_auto_page_break(False)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    pdf.set_lang(language)
    pdf.set_title(t["title"])
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(t["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    name = str(identity) if identity is not None else patient.code
    pdf.cell(
        0, 6, _latin1(t["for"].format(name=name, clinic=patient.clinic.name, date=day(today))),
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(3)

    pair = _pair(patient)
    width = (pdf.w - 30 - 6) / 2
    if pair is not None:
        top = pdf.get_y()
        height = 0.0
        for i, (photo, key) in enumerate(zip(pair, ("before", "after"), strict=True)):
            x = 15 + i * (width + 6)
            h = min(width * photo.height / photo.width, 95)
            w = h * photo.width / photo.height
            pdf.image(io.BytesIO(storage.read(photo.file_name)), x=x + (width - w) / 2, y=top, w=w, h=h)
            pdf.set_xy(x, top + h + 1)
            pdf.cell(width, 5, _latin1(t[key].format(date=day(photo.taken_at))), align="C")
            height = max(height, h + 7)
        pdf.set_xy(15, top + height + 3)

    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, _latin1(t["changes"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    # the labels, remarks and number formats of the comparison in the patient's language, not
    # in the language of the clinician who prints the report
    with translation.override(language):
        lines = _change_lines(pair, language, t)
    for line in lines:
        pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    for title, body in (("noise_title", "noise"), ("limits_title", "limits")):
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 6, _latin1(t[title]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 4.5, _latin1(t[body]), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _change_lines(pair: tuple[Photo, Photo] | None, language: str, t: dict[str, str]) -> list[str]:
    if pair is None:
        return [t["too_few"]]
    comparison = selectors.compare_photos(before=pair[0], after=pair[1])
    if comparison is None:
        return [t["too_few"]]
    if not comparison.comparable:
        reasons = "; ".join(word_remark(r) for r in comparison.reasons)
        return [t["not_comparable"].format(reasons=reasons)]
    region = selectors.region_for(pair[0].view)
    rows = comparison.regions.get(region, [])
    lines = []
    for c in rows:
        if c.verdict == selectors.Verdict.BEYOND_NOISE and c.delta is not None:
            lines.append(
                t["lower" if c.delta < 0 else "higher"].format(
                    label=_label(c.key, language),
                    delta=_number(abs(c.delta)),
                    before=_number(c.before),
                    after=_number(c.after),
                )
            )
    if not lines:
        lines.append(t["none_beyond"])
    same = [_label(c.key, language) for c in rows if c.verdict == selectors.Verdict.NO_CHANGE]
    unknown = [_label(c.key, language) for c in rows if c.verdict == selectors.Verdict.NOT_JUDGED]
    if same:
        lines.append(t["no_change"].format(labels=", ".join(same)))
    if unknown:
        lines.append(t["not_judged"].format(labels=", ".join(unknown)))
    return lines
