"""Quality: sharpness, clipping, pose and resolution decide ``usable``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.skinlab._images import astronaut_face

from exoderm.skinlab.phantom import Perturbation, make_phantom
from exoderm.skinlab.phone import PHONE_PROFILES, PhoneProfile, UnsharpMask, phone_process
from exoderm.skinlab.quality import (
    MAX_POSE_DEG,
    MIN_SHARPNESS,
    Quality,
    assess_quality,
    clipped_pct,
    edge_overshoot_pct,
    sharpness,
    usability_problems,
)

FRONTAL = {"yaw": 1.0, "pitch": -5.0, "roll": 2.0}


def test_sharpness_orders_blur():
    img = astronaut_face(1024)
    values = [sharpness(cv2.GaussianBlur(img, (0, 0), s) if s else img) for s in (0, 1.5, 3, 6)]
    assert values == sorted(values, reverse=True)
    assert values[0] > MIN_SHARPNESS > values[-1]
    assert sharpness(np.full((100, 100, 3), 128, np.uint8)) == 0.0


def test_sharpness_within_mask_and_uint16():
    img = astronaut_face(1024)
    mask = np.zeros(img.shape[:2], bool)
    mask[200:600, 350:750] = True
    s8 = sharpness(img, mask)
    s16 = sharpness(img.astype(np.uint16) * 257, mask)
    assert abs(s8 - s16) < 0.02
    blurred = img.copy()
    blurred[200:600, 350:750] = cv2.GaussianBlur(img, (0, 0), 5)[200:600, 350:750]
    assert sharpness(blurred, mask) < 0.5 * s8


def test_clipped_pct():
    img = np.full((100, 100, 3), 120, np.uint8)
    img[:10] = (255, 200, 180)  # one channel blown: 10 %
    img[10:15] = 0  # black: 5 %
    assert abs(clipped_pct(img) - 15.0) < 1e-9
    mask = np.zeros((100, 100), bool)
    mask[50:] = True
    assert clipped_pct(img, mask) == 0.0


def test_usable_and_reasons():
    img = astronaut_face(1024)[130:380, 350:560]  # the face
    good = assess_quality(img, pose=FRONTAL, mm_per_px=0.2)
    assert good.usable and good.notes == []
    d = good.to_dict()
    assert set(d) == {
        "sharpness",
        "effective_blur_px",
        "effective_blur_mm",
        "edge_overshoot_pct",
        "clipped_pct",
        "pose",
        "usable",
        "notes",
    }
    assert d["effective_blur_mm"] == round(good.effective_blur_px * 0.2, 4)

    turned = assess_quality(img, pose={"yaw": 31.0, "pitch": 0.0, "roll": 0.0}, mm_per_px=0.2)
    assert not turned.usable and "yaw" in turned.notes[0]

    blurred = assess_quality(cv2.GaussianBlur(img, (0, 0), 8), pose=FRONTAL, mm_per_px=0.2)
    assert not blurred.usable and "blurred" in blurred.notes[0]

    over = img.copy()
    over[:40] = 255
    assert not assess_quality(over, pose=FRONTAL, mm_per_px=0.2).usable

    coarse = assess_quality(img, pose=FRONTAL, mm_per_px=1.4)
    assert not coarse.usable and "resolution" in coarse.notes[0]

    no_face = assess_quality(img, pose=None, mm_per_px=None)
    assert not no_face.usable and "no face found" in no_face.notes
    assert any("scale unknown" in n for n in no_face.notes)

    full_roi = assess_quality(img, pose=None, mm_per_px=0.2, face_expected=False)
    assert full_roi.usable


def test_usability_problems_carry_kind_and_numbers_and_are_the_notes():
    img = astronaut_face(1024)[130:380, 350:560]
    over = img.copy()
    over[:60] = 255  # blown highlights, blurred with the rest (a sharp edge would be sharpness)
    over = cv2.GaussianBlur(over, (0, 0), 8)
    pose = {"yaw": 31.0, "pitch": -24.5, "roll": 2.0}
    q = assess_quality(over, pose=pose, mm_per_px=0.8)
    problems = usability_problems(q, mm_per_px=0.8)
    assert [p.kind for p in problems] == ["blurred", "clipped", "pose_beyond", "resolution"]
    assert q.notes == problems  # the notes are the problems' English text
    blurred, clipped, turned, coarse = problems
    assert blurred.params == {"value": q.sharpness, "limit": MIN_SHARPNESS}
    assert clipped.params["value"] == q.clipped_pct > clipped.params["limit"]
    assert turned == f"pose beyond ±{MAX_POSE_DEG:.0f}°: yaw +31°, pitch -24°"  # -24.5 rounds to even
    assert turned.params == {"angles": {"yaw": 31.0, "pitch": -24.5}, "limit": MAX_POSE_DEG}
    assert coarse.params == {"value": 0.8, "limit": 0.5}

    # from a stored record (plain strings, rounded numbers) the same problems come back
    stored = Quality(**{**q.to_dict(), "notes": [str(n) for n in q.notes]})
    assert [p.kind for p in usability_problems(stored, mm_per_px=0.8)] == [p.kind for p in problems]
    no_face = Quality(**assess_quality(img, pose=None, mm_per_px=0.2).to_dict())
    assert [p.kind for p in usability_problems(no_face, mm_per_px=0.2)] == ["no_face"]
    assert (
        usability_problems(
            Quality(**assess_quality(img, pose=FRONTAL, mm_per_px=0.2).to_dict()), mm_per_px=0.2
        )
        == []
    )


def _study_capture(phone: str | None = None, *, sharpen: float = 0.0, mm_per_px: float = 0.05):
    """The repeatability study's phantom (one capture of its perturbations) and its region, through a
    phone profile or an unsharp mask of radius 1.5 px and amount ``sharpen`` (luma, as phones do)."""
    ph = make_phantom(
        seed=0, spots=25, wrinkles=10, red_patches=3, pores=300, mm_per_px=mm_per_px,
        perturb=Perturbation.random(1000, phone=phone),
    )  # fmt: skip
    rgb = ph.rgb
    if sharpen:
        mask = PhoneProfile(name="mask", description="", sharpen=(UnsharpMask(1.5, sharpen),))
        rgb = phone_process(rgb, profile=mask, seed=0)
    region = np.zeros(ph.mask.shape, bool)
    region[40:-40, 40:-40] = True
    return rgb, region


@pytest.mark.parametrize("mm_per_px", [0.05, 0.15])
def test_the_edge_overshoot_grows_with_the_unsharp_masks_amount(mm_per_px):
    measured = [
        edge_overshoot_pct(*_study_capture(sharpen=a, mm_per_px=mm_per_px)) for a in (0, 0.5, 1.0, 1.5)
    ]
    readings = [r for r in measured if r is not None]
    assert len(readings) == len(measured)
    assert readings == sorted(readings) and readings[1] - readings[0] > 1.0, readings
    assert readings[0] < 1.5  # the unsharpened capture: no halo beyond its JPEG ringing
    assert readings[-1] > 10


def test_the_edge_overshoot_tells_strong_phone_sharpening_from_none():
    values = {name: edge_overshoot_pct(*_study_capture(name)) for name in PHONE_PROFILES}
    assert values["pro-raw-like"] is not None and values["pro-raw-like"] < 1.0
    assert all(v is not None and v < 4.0 for name, v in values.items() if name != "android-aggressive")
    assert values["android-aggressive"] is not None and values["android-aggressive"] > 10


def test_an_image_without_step_edges_has_no_edge_overshoot():
    assert edge_overshoot_pct(np.full((200, 200, 3), 128, np.uint8)) is None
    # lines only (a wrinkle-like pattern): no step to overshoot
    lines = np.full((200, 200, 3), 180, np.uint8)
    lines[:, ::20] = 90
    assert edge_overshoot_pct(lines) is None


def test_the_quality_record_carries_the_edge_overshoot():
    rgb, region = _study_capture("android-aggressive")
    q = assess_quality(rgb, region, mm_per_px=0.05, face_expected=False)
    assert q.edge_overshoot_pct == edge_overshoot_pct(rgb, region)
    assert q.edge_overshoot_pct is not None
    assert q.to_dict()["edge_overshoot_pct"] == round(q.edge_overshoot_pct, 2)
