"""capture_stats / capture_differences: the quick comparability check before a photo is stored."""

from __future__ import annotations

import dataclasses
import math

import cv2
import pytest
from tests.skinlab._images import astronaut_face

from exoderm.skinlab.capture import (
    MAX_EXPOSURE_DIFF_EV,
    CaptureDifference,
    capture_differences,
    capture_stats,
)
from exoderm.skinlab.io import SkinlabError
from exoderm.skinlab.phantom import Perturbation, make_phantom

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
