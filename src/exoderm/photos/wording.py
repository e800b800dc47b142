"""skinlab's reasons and notes on a comparison, in the user's language.

skinlab words them in English, as its JSON records are; each also carries its kind and numbers
(:class:`exoderm.skinlab.remark.Remark`), from which they are worded again here. A remark of a
kind not known here (or a plain string) is shown as skinlab worded it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.photos import checks
from exoderm.photos.selectors import METRICS, Verdict, number_text, region_for, region_label

if TYPE_CHECKING:
    from exoderm.photos.selectors import Comparison

_CAPTURE_KINDS = {"pose", "pose_unknown", "scale", "scale_unknown", "face_size"}
_CAPTURE_ADVICE = gettext_lazy(
    "Take the photos with the camera's sharpening, beauty, HDR and scene optimisation turned off, or "
    "in its Pro or RAW mode, and with one device and mode at every visit."
)
"""What the clinic can do about the camera's processing (docs/benchmarks.md, skinlab under phone
processing)."""


def word_remark(remark: str) -> str:
    """A reason or note of a comparison in the active language."""
    kind: str = getattr(remark, "kind", "")
    p = getattr(remark, "params", {})
    if kind in _CAPTURE_KINDS:
        from exoderm.skinlab.capture import CaptureDifference

        # the differences the check before upload words too, between the same two photos
        return checks.describe(CaptureDifference(kind, p.get("value"), p.get("limit"), p.get("axis")))
    if kind == "unusable":
        text = (
            _("the before photo cannot be used: %(why)s")
            if p["photo"] == "before"
            else _("the after photo cannot be used: %(why)s")
        )
        problems = p.get("problems")
        return text % {"why": "; ".join(word_problem(x) for x in problems) if problems else p["why"]}
    if kind == "calibration":
        return (
            _("calibration differs: only the before photo has a colour chart")
            if p["before"]
            else _("calibration differs: only the after photo has a colour chart")
        )
    if kind == "roi":
        return _("the photos were analysed with different regions")
    if kind == "no_study":
        return _(
            "No repeatability study for this engine version (%(detail)s): the minimal detectable "
            "change is unknown, so no change is claimed."
        ) % {"detail": p["detail"]}
    if kind == "scale_outside":
        return _(
            "The scale, %(scale)s mm per pixel, lies outside the repeatability study's range "
            "(%(low)s to %(high)s): the minimal detectable changes of the nearest scale band "
            "(%(band)s) are used."
        ) % {
            "scale": checks.rounded(p["mm_per_px"], 3),
            "low": checks.rounded(p["low"], 3),
            "high": checks.rounded(p["high"], 3),
            "band": p["band"],
        }
    if kind == "calibrated_study":
        return _(
            "Both photos were calibrated with a colour chart: lightness and colour are judged "
            "against the repeatability of calibrated photos."
        )
    if kind == "chart_fit":
        return _(
            "Both photos were calibrated with a colour chart, but a chart fits with a mean colour "
            "error of ΔE00 %(fit)s, more than in the repeatability studies with a chart (up to "
            "%(limit)s): the camera's local tone mapping (a phone's default mode) or uneven light, "
            "which a chart does not correct. Lightness and colour are judged as for uncalibrated "
            "photos."
        ) % {"fit": checks.rounded(p["fit"], 2), "limit": checks.rounded(p["limit"], 1)}
    if kind == "scale_unknown":
        return _(
            "The scale is unknown: each metric's minimal detectable change is the largest of the "
            "repeatability study's scale bands."
        )
    metrics = {"metrics": ", ".join(str(METRICS.get(k, (k, None))[0]) for k in p.get("metrics", []))}
    if kind == "mdc_zero":
        return _("Not judged, as the repeatability study measured no variation: %(metrics)s") % metrics
    if kind == "unstudied":
        return (
            _(
                "Not measurable in the face regions by the repeatability study, so not judged there: "
                "%(metrics)s"
            )
            % metrics
        )
    if kind == "compression":
        text = (
            _(
                "The before photo is lossy (JPEG or HEIC) and the after photo lossless (PNG or "
                "TIFF): compression alone changes these, so they are not judged: %(metrics)s"
            )
            if p["photo"] == "before"
            else _(
                "The after photo is lossy (JPEG or HEIC) and the before photo lossless (PNG or "
                "TIFF): compression alone changes these, so they are not judged: %(metrics)s"
            )
        )
        return text % metrics
    if kind == "focus":
        text = (
            _(
                "The before photo is softer than the after photo (%(blur)s mm more blur, beyond what the "
                "repeatability study covered): focus alone changes these, so they are not "
                "judged: %(metrics)s"
            )
            if p["photo"] == "before"
            else _(
                "The after photo is softer than the before photo (%(blur)s mm more blur, beyond what the "
                "repeatability study covered): focus alone changes these, so they are not "
                "judged: %(metrics)s"
            )
        )
        return text % {**metrics, "blur": checks.rounded(p["value"], 2)}
    if kind == "sharpened":
        text = {
            "before": _(
                "The before photo looks strongly sharpened by the camera (edges overshoot by %(value)s %%, "
                "more than the %(limit)s %% the repeatability study covered): such processing alone "
                "changes these, so they are not judged: %(metrics)s. %(advice)s"
            ),
            "after": _(
                "The after photo looks strongly sharpened by the camera (edges overshoot by %(value)s %%, "
                "more than the %(limit)s %% the repeatability study covered): such processing alone "
                "changes these, so they are not judged: %(metrics)s. %(advice)s"
            ),
            "both": _(
                "Both photos look strongly sharpened by the camera (edges overshoot by up to %(value)s "
                "%%, more than the %(limit)s %% the repeatability study covered): such processing "
                "alone changes these, so they are not judged: %(metrics)s. %(advice)s"
            ),
        }[p["photo"]]
        return text % {
            **metrics,
            "value": checks.rounded(p["value"], 0),
            "limit": checks.rounded(p["limit"], 0),
            "advice": _CAPTURE_ADVICE,
        }
    if kind == "processing_differs":
        return _(
            "The camera processed the two photos differently (edges overshoot by %(before)s %% before "
            "and %(after)s %% after, a difference beyond the %(limit)s %% the repeatability study "
            "covered): a change of device or camera mode alone changes these, so they are not "
            "judged: %(metrics)s. %(advice)s"
        ) % {
            **metrics,
            "before": checks.rounded(p["before"], 1),
            "after": checks.rounded(p["after"], 1),
            "limit": checks.rounded(p["limit"], 0),
            "advice": _CAPTURE_ADVICE,
        }
    return str(remark)


def _sign(value: float) -> str:
    """The sign written before a whole-degree angle: none for one that rounds to 0 (never "−0")."""
    return "" if round(value) == 0 else "+" if value > 0 else "−"


def word_problem(problem: str) -> str:
    """What makes a photo unusable (:func:`exoderm.skinlab.quality.usability_problems`) in the
    active language."""
    kind: str = getattr(problem, "kind", "")
    p = getattr(problem, "params", {})
    if kind == "blurred":
        return _("blurred: sharpness %(value)s < %(limit)s") % {
            "value": checks.rounded(p["value"], 2),
            "limit": checks.rounded(p["limit"], 2),
        }
    if kind == "clipped":
        return _("exposure: %(value)s %% of pixels clipped (more than %(limit)s %%)") % {
            "value": checks.rounded(p["value"], 1),
            "limit": checks.rounded(p["limit"], 0),
        }
    if kind == "pose_beyond":
        angles = ", ".join(
            f"{checks.AXES.get(axis, axis)} {_sign(v)}{checks.rounded(v, 0)}°"
            for axis, v in p["angles"].items()
        )
        return _("head pose beyond ±%(limit)s°: %(angles)s") % {
            "limit": checks.rounded(p["limit"], 0),
            "angles": angles,
        }
    if kind == "no_face":
        return _("no face found")
    if kind == "resolution":
        return _("resolution too low: %(value)s mm per pixel (more than %(limit)s)") % {
            "value": checks.rounded(p["value"], 2),
            "limit": checks.rounded(p["limit"], 2),
        }
    return str(problem)


#: What a comparison found, in words, for the comparison page's summary and the patient's PDF
#: alike. Patient documents carry their text in both languages (see :mod:`.report`), so these
#: sentences do not depend on a translation catalogue.
SUMMARY: dict[str, dict[str, str]] = {
    "en": {
        "lower": "{label}: lower by {delta} (from {before} to {after}).",
        "higher": "{label}: higher by {delta} (from {before} to {after}).",
        "in_region": "{region} – {sentence}",
        "none_beyond": "No change was larger than the measurement noise.",
        "no_change": "No measurable change: {labels}.",
        "not_judged": "Not judged (no noise estimate for these values): {labels}.",
        "not_comparable": "These two photos cannot be compared reliably, so no change is reported. "
        "Reasons: {reasons}.",
    },
    "de": {
        "lower": "{label}: niedriger um {delta} (von {before} auf {after}).",
        "higher": "{label}: höher um {delta} (von {before} auf {after}).",
        "in_region": "{region} – {sentence}",
        "none_beyond": "Keine Veränderung war größer als die Messungenauigkeit.",
        "no_change": "Keine messbare Veränderung: {labels}.",
        "not_judged": "Nicht beurteilt (keine Schätzung der Messungenauigkeit für diese Werte): {labels}.",
        "not_comparable": "Diese beiden Fotos lassen sich nicht zuverlässig vergleichen, daher wird keine "
        "Veränderung angegeben. Gründe: {reasons}.",
    },
}


def summary_language(language: str) -> str:
    """The language of :data:`SUMMARY` for a language code (``de-at`` is German; else English)."""
    return "de" if language.lower().startswith("de") else "en"


def metric_label(key: str, language: str) -> str:
    """A metric's name in ``language``: the pages' words (the catalogue), so that a patient's
    document and the comparison page name a metric alike."""
    with translation.override(summary_language(language)):
        return str(METRICS[key][0]) if key in METRICS else key


def _number(value: float | None) -> str:
    return "-" if value is None else number_text(value)


def summarize(comparison: Comparison, language: str) -> list[str]:
    """The comparison in a few sentences: each change beyond the noise (in any region; the
    region named where it is not the whole face or photo), else that none was; then which values
    of the whole face or photo showed no measurable change and which could not be judged.

    Region names, remarks and numbers come out in the active language: call it inside
    ``translation.override(language)``.
    """
    t = SUMMARY[summary_language(language)]
    if not comparison.comparable:
        return [t["not_comparable"].format(reasons="; ".join(word_remark(r) for r in comparison.reasons))]
    whole = region_for(comparison.before.view)
    lines = []
    for region, change in comparison.changes_beyond_noise():
        if change.delta is None:
            continue
        sentence = t["lower" if change.delta < 0 else "higher"].format(
            label=metric_label(change.key, language),
            delta=_number(abs(change.delta)),
            before=_number(change.before),
            after=_number(change.after),
        )
        if region != whole:
            sentence = t["in_region"].format(region=region_label(region), sentence=sentence)
        lines.append(sentence)
    if not lines:
        lines.append(t["none_beyond"])
    rows = comparison.regions.get(whole, [])
    same = [metric_label(c.key, language) for c in rows if c.verdict == Verdict.NO_CHANGE]
    unknown = [metric_label(c.key, language) for c in rows if c.verdict == Verdict.NOT_JUDGED]
    if same:
        lines.append(t["no_change"].format(labels=", ".join(same)))
    if unknown:
        lines.append(t["not_judged"].format(labels=", ".join(unknown)))
    return lines
