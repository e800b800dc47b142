"""capture_stats / capture_differences: the quick comparability check before a photo is stored."""

from __future__ import annotations

import dataclasses
import io
import math

import cv2
import pytest
from PIL import Image
from tests.skinlab._images import astronaut_face

from exoderm.skinlab.capture import (
    MAX_EXPOSURE_DIFF_EV,
    MAX_JPEG_QUALITY_DROP,
    MIN_JPEG_QUALITY,
    CaptureDifference,
    capture_differences,
    capture_stats,
)
from exoderm.skinlab.compare import focus_limit_mm, load_repeatability, sharpening_limit_pct
from exoderm.skinlab.io import SkinlabError
from exoderm.skinlab.jpeg import ijg_table, jpeg_quality, quality_from_tables
from exoderm.skinlab.phantom import Perturbation, make_phantom
from exoderm.skinlab.pipeline import analyze

SHAPE = (480, 640)


def _closeup(seed: int = 1, *, spots: int = 30, **perturb):
    rgb = make_phantom(shape=SHAPE, seed=seed, spots=spots, perturb=Perturbation(**perturb)).rgb
    return capture_stats(rgb, roi="full", mm_per_px=0.05)


@pytest.fixture(scope="module")
def baseline():
    return _closeup()


def test_a_later_capture_of_the_same_setup_differs_in_nothing(baseline):
    # other skin (fewer spots), sensor noise, blur and JPEG: a real change, the same capture
    later = _closeup(seed=2, spots=5, noise_sd=2.0, blur_sigma_px=0.6, jpeg_quality=90)
    assert capture_differences(baseline, later) == []
    assert later.pose is None and later.mm_per_px == 0.05


@pytest.mark.parametrize("gain", [0.6, 1.5])
def test_exposure_is_measured_in_stops(baseline, gain):
    later = _closeup(exposure=gain)
    ev = math.log2(later.luminance / baseline.luminance)
    assert ev == pytest.approx(math.log2(gain), abs=0.08)
    (difference,) = capture_differences(baseline, later)
    assert difference.kind == "exposure" and difference.value == pytest.approx(ev)
    assert difference.limit == MAX_EXPOSURE_DIFF_EV


def test_small_exposure_and_white_balance_errors_are_within_the_limits(baseline):
    later = _closeup(exposure=1.15, wb_gains=(1.03, 1.0, 0.98))
    assert capture_differences(baseline, later) == []


def test_warmer_light_is_a_white_balance_difference(baseline):
    later = _closeup(wb_gains=(1.1, 1.0, 0.9))
    (difference,) = capture_differences(baseline, later)
    assert difference.kind == "white_balance"
    assert difference.value == pytest.approx(1.1 / 0.9 - 1, abs=0.03)
    assert str(difference).startswith("white balance differs by +22")


def test_scale_and_scale_known_in_only_one_photo(baseline):
    rgb = make_phantom(shape=SHAPE, seed=1, spots=30).rgb
    (larger,) = capture_differences(baseline, capture_stats(rgb, roi="full", mm_per_px=0.06))
    assert larger.kind == "scale" and larger.value == pytest.approx(0.2)
    assert str(larger) == "scale differs by +20.0 % (limit ±10 %)"
    (unknown,) = capture_differences(baseline, capture_stats(rgb, roi="full"))
    assert unknown == CaptureDifference("scale_unknown")


def test_a_turned_and_closer_face_differs_in_pose_and_scale():
    face = astronaut_face(1024)
    moved = cv2.warpAffine(
        face, cv2.getRotationMatrix2D((512, 512), 15, 1.15), (1024, 1024), borderMode=cv2.BORDER_REFLECT
    )
    before, after = capture_stats(face), capture_stats(moved)
    assert before.pose is not None and before.mm_per_px is not None and before.eye_distance_px
    assert after.eye_distance_px / before.eye_distance_px == pytest.approx(1.15, abs=0.03)
    kinds = {(d.kind, d.axis) for d in capture_differences(before, after)}
    assert kinds == {("pose", "roll"), ("scale", None)}  # the iris gives both photos a scale
    roll = next(d for d in capture_differences(before, after) if d.kind == "pose")
    assert roll.value == pytest.approx(-15, abs=2.5)
    # without an iris scale the face size is compared instead
    no_scale = [
        d
        for d in capture_differences(
            dataclasses.replace(before, mm_per_px=None), dataclasses.replace(after, mm_per_px=None)
        )
        if d.kind != "pose"
    ]
    assert [d.kind for d in no_scale] == ["face_size"] and no_scale[0].value == pytest.approx(0.15, abs=0.03)


def test_a_face_view_without_a_face_has_no_pose():
    phantom = make_phantom(shape=SHAPE, seed=1).rgb
    face = capture_stats(astronaut_face(1024))
    flat = capture_stats(phantom)  # roi 'face', but no face on it
    assert flat.pose is None and flat.eye_distance_px is None
    assert CaptureDifference("pose_unknown") in capture_differences(face, flat)


def test_a_bad_scale_is_refused():
    with pytest.raises(SkinlabError):
        capture_stats(make_phantom(shape=SHAPE, seed=1).rgb, roi="full", mm_per_px=0.0)


# ---- compression ----------------------------------------------------------------------------


def _encoded(rgb, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **params)
    return out.getvalue()


@pytest.fixture(scope="module")
def closeup_rgb():
    return make_phantom(
        shape=SHAPE, seed=1, spots=30, perturb=Perturbation(noise_sd=2.0, blur_sigma_px=0.6)
    ).rgb


@pytest.mark.parametrize("quality", [10, 49, 50, 75, 80, 85, 92, 100])
def test_the_jpeg_quality_is_read_back_from_the_quantisation_tables(closeup_rgb, quality):
    assert jpeg_quality(_encoded(closeup_rgb, "JPEG", quality=quality)) == quality
    assert jpeg_quality(_encoded(closeup_rgb, "JPEG", quality=quality, subsampling=0)) == quality
    ok, buf = cv2.imencode(".jpg", closeup_rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok and jpeg_quality(buf.tobytes()) == quality


def test_a_table_of_its_own_gives_the_nearest_quality(closeup_rgb):
    # a camera's own table: the IJG table of quality 70 with a few entries changed
    table = ijg_table(70)
    table[0] += 1
    table[63] -= 3
    own = _encoded(closeup_rgb, "JPEG", qtables=[table, ijg_table(70)])
    assert jpeg_quality(own) == 70
    assert quality_from_tables({}) is None


def test_formats_without_jpeg_quality(closeup_rgb, tmp_path):
    from pillow_heif import register_heif_opener

    register_heif_opener()
    for fmt in ("PNG", "TIFF", "HEIF"):
        data = _encoded(closeup_rgb, fmt)
        assert jpeg_quality(data) is None, fmt
        path = tmp_path / f"photo.{fmt.lower()}"
        path.write_bytes(data)
        assert jpeg_quality(path) is None, fmt
    assert jpeg_quality(tmp_path / "missing.jpg") is None
    assert jpeg_quality(b"\xff\xd8\xff\xe0 not really a JPEG") is None


def _stats(rgb, fmt: str = "JPEG", **params):
    return capture_stats(_encoded(rgb, fmt, **params), roi="full", mm_per_px=0.05)


def test_capture_stats_reads_the_quality_of_a_jpeg_file(closeup_rgb, tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encoded(closeup_rgb, "JPEG", quality=83))
    assert capture_stats(path, roi="full", mm_per_px=0.05).jpeg_quality == 83
    assert _stats(closeup_rgb, quality=91).jpeg_quality == 91
    assert _stats(closeup_rgb, "PNG").jpeg_quality is None
    assert capture_stats(closeup_rgb, roi="full", mm_per_px=0.05).jpeg_quality is None  # pixels
    assert _stats(closeup_rgb, quality=91).to_dict()["jpeg_quality"] == 91


def test_a_follow_up_compressed_much_more_than_the_baseline_is_reported(closeup_rgb):
    baseline = _stats(closeup_rgb, quality=95)
    (difference,) = capture_differences(baseline, _stats(closeup_rgb, quality=95 - MAX_JPEG_QUALITY_DROP - 3))
    assert difference.kind == "compression"
    assert difference.value == -(MAX_JPEG_QUALITY_DROP + 3) and difference.limit == MAX_JPEG_QUALITY_DROP
    assert (
        str(difference)
        == f"compression differs: JPEG quality {MAX_JPEG_QUALITY_DROP + 3} lower than the baseline "
        f"(limit {MAX_JPEG_QUALITY_DROP})"
    )
    # within the allowed drop, the same quality, or a better one: nothing
    for q in (95 - MAX_JPEG_QUALITY_DROP, 95, 100):
        assert capture_differences(baseline, _stats(closeup_rgb, quality=q)) == [], q


def test_a_follow_up_below_the_quality_floor_is_reported(closeup_rgb):
    later = _stats(closeup_rgb, quality=MIN_JPEG_QUALITY - 20)
    for baseline in (_stats(closeup_rgb, quality=95), _stats(closeup_rgb, quality=MIN_JPEG_QUALITY - 20)):
        (difference,) = capture_differences(baseline, later)  # reported once, as the floor
        assert difference.kind == "jpeg_quality"
        assert difference.value == MIN_JPEG_QUALITY - 20 and difference.limit == MIN_JPEG_QUALITY
        assert str(difference).startswith(f"JPEG quality {MIN_JPEG_QUALITY - 20} is below {MIN_JPEG_QUALITY}")
    assert (
        capture_differences(_stats(closeup_rgb, quality=85), _stats(closeup_rgb, quality=MIN_JPEG_QUALITY))
        == []
    )


def test_lossless_files_have_no_jpeg_quality_to_compare(closeup_rgb):
    png, jpeg95 = _stats(closeup_rgb, "PNG"), _stats(closeup_rgb, quality=95)
    assert [d.kind for d in capture_differences(png, _stats(closeup_rgb, quality=MIN_JPEG_QUALITY + 1))] == [
        "file_format"
    ]
    assert capture_differences(png, _stats(closeup_rgb, "TIFF")) == []
    # a JPEG follow-up below the floor is reported for that too, whatever the baseline
    assert [d.kind for d in capture_differences(png, _stats(closeup_rgb, quality=50))] == [
        "file_format",
        "jpeg_quality",
    ]
    assert [d.kind for d in capture_differences(jpeg95, png)] == ["file_format"]


def test_a_lossless_and_a_lossy_file_differ_in_file_format(closeup_rgb):
    from pillow_heif import register_heif_opener

    register_heif_opener()
    png, tiff = _stats(closeup_rgb, "PNG"), _stats(closeup_rgb, "TIFF")
    jpeg, heic = _stats(closeup_rgb, quality=92), _stats(closeup_rgb, "HEIF", quality=90)
    assert (png.lossless, tiff.lossless, jpeg.lossless, heic.lossless) == (True, True, False, False)
    assert png.to_dict()["lossless"] is True
    (later_lossy,) = capture_differences(png, jpeg)
    assert (later_lossy.kind, later_lossy.value) == ("file_format", 1.0)
    assert str(later_lossy).startswith("file format differs: the baseline is uncompressed, this photo a JPEG")
    (later_lossless,) = capture_differences(heic, tiff)
    assert (later_lossless.kind, later_lossless.value) == ("file_format", 0.0)
    assert str(later_lossless).startswith(
        "file format differs: this photo is uncompressed, the baseline a JPEG"
    )
    # the same kind of file on both sides, or pixels whose file is not known: nothing
    assert capture_differences(jpeg, heic) == [] and capture_differences(tiff, png) == []
    pixels = capture_stats(closeup_rgb, roi="full", mm_per_px=0.05)
    assert pixels.lossless is None and capture_differences(png, pixels) == []


def test_the_thresholds_follow_the_measurement():
    """Fine detail (pores) lost between the study's JPEG quality and the limits stays well under
    the close-up mdc: a real run of the engine on one phantom design at 0.05 mm/px."""
    ph = make_phantom(
        seed=4, spots=10, wrinkles=4, pores=300, perturb=Perturbation(noise_sd=2.0, blur_sigma_px=0.6)
    )
    pores = {}
    for q in (90, MIN_JPEG_QUALITY, 50):
        data = _encoded(ph.rgb, "JPEG", quality=q)
        pores[q] = (
            analyze(data, roi="full", mm_per_px=0.05, keep_arrays=False).regions["full"].metrics["pore_count"]
        )
    study, why = load_repeatability()
    assert study is not None, why
    (close,) = [b for b in study.bands if b.name == "close_up"]
    mdc = close.metrics["pore_count"]["mdc"]
    assert abs(pores[MIN_JPEG_QUALITY] - pores[90]) < 0.5 * mdc, pores
    assert pores[50] < pores[MIN_JPEG_QUALITY] < pores[90] + 5, pores  # compression removes pores


def _face_scale(blur_px: float, seed: int):
    """A phantom at face scale (0.15 mm/px) captured with noise, JPEG and the given focus blur."""
    ph = make_phantom(
        shape=SHAPE, mm_per_px=0.15, seed=1,
        perturb=Perturbation(noise_sd=2.0, blur_sigma_px=blur_px, jpeg_quality=90, seed=seed),
    )  # fmt: skip
    return capture_stats(ph.rgb, roi="full", mm_per_px=0.15)


def test_a_follow_up_softer_than_its_baseline_is_told_to_focus_again():
    sharp, soft = _face_scale(0.6, 1), _face_scale(1.8, 2)
    (difference,) = capture_differences(sharp, soft)
    assert difference.kind == "softer" and difference.limit == focus_limit_mm(0.15)
    assert difference.value == pytest.approx(math.sqrt(1.8**2 - 0.6**2) * 0.15, rel=0.15)
    assert str(difference).endswith("focus again")
    # within the limit, and a sharper follow-up, are not reported
    assert capture_differences(sharp, _face_scale(0.65, 3)) == []
    assert capture_differences(soft, sharp) == []
    # nor where the scale of either photo is unknown: the limit is in mm
    assert (
        capture_differences(
            dataclasses.replace(sharp, mm_per_px=None), dataclasses.replace(soft, mm_per_px=None)
        )
        == []
    )


def _close_up(phone: str | None, seed: int):
    perturb = Perturbation(noise_sd=2.0, blur_sigma_px=0.6, jpeg_quality=90, seed=seed, phone=phone)
    ph = make_phantom(shape=SHAPE, mm_per_px=0.05, seed=1, spots=8, perturb=perturb)
    return capture_stats(ph.rgb, roi="full", mm_per_px=0.05)


def test_a_strongly_sharpened_follow_up_is_told_to_turn_the_sharpening_off():
    baseline = _close_up(None, 1)
    (difference,) = capture_differences(baseline, _close_up("android-aggressive", 2))
    assert difference.kind == "sharpened" and difference.limit == sharpening_limit_pct(0.05)
    assert difference.value is not None and difference.value > 10
    assert "Pro or RAW mode" in str(difference)
    # a phone's ordinary processing, and none, are not reported
    assert capture_differences(baseline, _close_up("iphone-default", 3)) == []
    assert capture_differences(baseline, _close_up(None, 4)) == []
