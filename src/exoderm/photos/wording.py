"""skinlab's reasons and notes on a comparison, in the user's language.

skinlab words them in English, as its JSON records are; each also carries its kind and numbers
(:class:`exoderm.skinlab.remark.Remark`), from which they are worded again here. A remark of a
kind not known here (or a plain string) is shown as skinlab worded it.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from exoderm.photos import checks
from exoderm.photos.selectors import METRICS

_CAPTURE_KINDS = {"pose", "pose_unknown", "scale", "scale_unknown", "face_size"}


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
    return str(remark)


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
            f"{checks.AXES.get(axis, axis)} {'+' if v >= 0 else '−'}{checks.rounded(v, 0)}°"
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
