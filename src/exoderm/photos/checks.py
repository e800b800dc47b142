"""The check before upload: would this photo be comparable with the patient's baseline of its view?

The chosen file goes through the upload's own validation (size limit, format by content, full
decode, re-encode) in a temporary file that is removed in every case; nothing is stored and no
row is written. skinlab's quick capture measurement (:mod:`exoderm.skinlab.capture`) then reads
pose, scale (or face size), exposure, white balance and focus (effective blur) of the new photo
and of the baseline photo and lists what differs beyond the limits. The result is advice: the
photo may still be uploaded.

Compression is judged on the files as sent: the stored file is a re-encoding (JPEG quality 95 for
JPEG and HEIC uploads), so the new photo's JPEG quality is read from the upload itself and the
baseline's from what its upload recorded (``Photo.source_jpeg_quality``; None for PNG, TIFF and
HEIC uploads and for photos stored before it was recorded, which are then not compared for it).
Whether a file is lossless is read from the stored files: a PNG or TIFF upload is stored as PNG,
a JPEG or HEIC upload as JPEG.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from exoderm.clinics.models import User
from exoderm.patients.models import Patient
from exoderm.photos import engine, selectors, storage
from exoderm.photos.models import Photo, Timepoint
from exoderm.photos.services import receive_file, refuse_unless_uploadable
from exoderm.photos.validation import clean_image

if TYPE_CHECKING:
    from exoderm.skinlab.capture import CaptureDifference

AXES = {
    "yaw": gettext_lazy("yaw (head turned)"),
    "pitch": gettext_lazy("pitch (chin up or down)"),
    "roll": gettext_lazy("roll (head tilted)"),
}


@dataclass(frozen=True)
class CaptureCheck:
    """The outcome of :func:`check_capture`: the baseline (None: nothing to compare with yet)
    and what differs from it beyond the limits (empty: comparable)."""

    baseline: Photo | None
    differences: list[CaptureDifference] = field(default_factory=list)

    @property
    def comparable(self) -> bool | None:
        return None if self.baseline is None else not self.differences

    @property
    def messages(self) -> list[str]:
        return [describe(d) for d in self.differences]


def rounded(value: float, places: int) -> str:
    """``|value|`` rounded (number_format alone cuts the digits off) in the user's number format."""
    return number_format(round(abs(value), places), places)


def describe(difference: CaptureDifference) -> str:
    """One difference in the user's language."""
    d = difference
    percent = {
        "value": rounded(100 * (d.value or 0), 0),
        "limit": rounded(100 * (d.limit or 0), 0),
    }
    if d.kind == "pose":
        return _("pose differs by %(degrees)s° %(axis)s from the baseline (limit %(limit)s°)") % {
            "degrees": rounded(d.value or 0, 0),
            "axis": AXES.get(d.axis or "", d.axis),
            "limit": rounded(d.limit or 0, 0),
        }
    if d.kind == "scale":
        return _("scale differs by %(value)s %% from the baseline (limit %(limit)s %%)") % percent
    if d.kind == "face_size":
        return _("face size differs by %(value)s %% from the baseline (limit %(limit)s %%)") % percent
    if d.kind == "exposure":
        text = (
            _("lighting differs: %(value)s stops brighter than the baseline (limit %(limit)s)")
            if (d.value or 0) > 0
            else _("lighting differs: %(value)s stops darker than the baseline (limit %(limit)s)")
        )
        return text % {"value": rounded(d.value or 0, 1), "limit": rounded(d.limit or 0, 1)}
    if d.kind == "white_balance":
        text = (
            _("white balance differs: light %(value)s %% warmer than at the baseline (limit %(limit)s %%)")
            if (d.value or 0) > 0
            else _(
                "white balance differs: light %(value)s %% cooler than at the baseline (limit %(limit)s %%)"
            )
        )
        return text % percent
    if d.kind == "jpeg_quality":
        return _(
            "JPEG quality %(value)s is below %(limit)s: fine texture, pores and wrinkles are measured "
            "lower (save the photo at a higher quality)"
        ) % {"value": rounded(d.value or 0, 0), "limit": rounded(d.limit or 0, 0)}
    if d.kind == "file_format":
        return (
            _(
                "file format differs: the baseline is uncompressed (PNG or TIFF), this photo a JPEG or "
                "HEIC; compression alone changes spots and redness, so those will not be judged (send "
                "an uncompressed file as for the baseline)"
            )
            if d.value
            else _(
                "file format differs: the baseline is a JPEG or HEIC, this photo uncompressed (PNG or "
                "TIFF); compression alone changes spots and redness, so those will not be judged (send "
                "a JPEG as for the baseline)"
            )
        )
    if d.kind == "softer":
        return _(
            "softer than the baseline: %(value)s mm more blur (limit %(limit)s mm); fine texture, lines "
            "and pores would not be judged: focus again"
        ) % {"value": rounded(d.value or 0, 2), "limit": rounded(d.limit or 0, 2)}
    if d.kind == "sharpened":
        return _(
            "strongly sharpened by the camera: edges overshoot by %(value)s %% (limit %(limit)s %%); "
            "spots, lines and pores would not be judged: turn off the camera's sharpening, beauty or "
            "HDR mode, or use its Pro or RAW mode"
        ) % {"value": rounded(d.value or 0, 0), "limit": rounded(d.limit or 0, 0)}
    if d.kind == "compression":
        return _(
            "compression differs: JPEG quality %(value)s lower than at the baseline (limit %(limit)s)"
        ) % {"value": rounded(d.value or 0, 0), "limit": rounded(d.limit or 0, 0)}
    if d.kind == "pose_unknown":
        return _("the head pose can be measured on only one of the two photos (is the whole face visible?)")
    return _("the scale is known for only one of the two photos (enter it for both or for neither)")


def check_capture(
    *,
    patient: Patient,
    chunks: Iterable[bytes],
    view: str,
    by: User,
    area: str = "",
    mm_per_px: float | None = None,
    timepoint: str = Timepoint.FOLLOW_UP,
) -> CaptureCheck:
    """Check an upload-to-be of ``patient`` against the baseline photo of the same view (and area).

    Refuses what :func:`exoderm.photos.services.upload_photo` would refuse for the file, the
    placement or the consent, with the same messages; stores nothing.
    """
    refuse_unless_uploadable(
        patient=patient, by=by, view=view, timepoint=timepoint, area=area, mm_per_px=mm_per_px
    )
    with storage.temp_file(".check") as upload:
        receive_file(chunks, upload)
        image = clean_image(upload, time_zone=patient.clinic.time_zone)
        quality = engine.jpeg_quality(upload)  # None unless a JPEG
    baseline = selectors.baseline_photo(patient=patient, view=view, area=area)
    if baseline is None:
        return CaptureCheck(None)
    from exoderm.skinlab.io import SkinlabError

    try:
        new = engine.capture_stats(image.data, view=view, mm_per_px=mm_per_px)
    except SkinlabError as error:
        raise ValidationError(
            {"file": _("The image cannot be measured: %(reason)s") % {"reason": error}}
        ) from None
    before = engine.capture_stats(
        storage.read(baseline.file_name), view=baseline.view, mm_per_px=baseline.mm_per_px
    )
    # the files as sent, not their re-encodings (see the module docstring)
    new = dataclasses.replace(new, jpeg_quality=quality)
    before = dataclasses.replace(before, jpeg_quality=baseline.source_jpeg_quality)
    return CaptureCheck(baseline, engine.capture_differences(before, new))
