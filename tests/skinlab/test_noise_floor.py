"""The shipped noise floor on a real face: re-captures of an unchanged face are not reported as
changes, and a real change of clinical size is.

The follow-ups are re-captures of scikit-image's astronaut photo made by the repeatability
study's own capture model (``bench.skinlab_repeatability.recapture``: rotation ±3°, scale ±5 %,
shift, exposure ±10 %, white balance ±5 %, noise, focus blur, JPEG 85-95) with seeds that
neither the study (2000 on) nor its held-out check (7000 on) uses, so they test the shipped
``data/repeatability.json`` rather than reproduce it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from bench.skinlab_repeatability import astronaut, original, recapture
from tests.skinlab._images import astronaut_face

from exoderm.skinlab.color import _decode, _encode
from exoderm.skinlab.compare import compare
from exoderm.skinlab.pipeline import Analysis, analyze

SEEDS = (9000, 9001, 9002, 9003)
MAX_FALSE_POSITIVE_RATE = 0.05
SIZE = 1536


@pytest.fixture(scope="module")
def baseline() -> Analysis:
    return analyze(original())


@pytest.fixture(scope="module")
def follow_ups() -> list[Analysis]:
    return [analyze(recapture(astronaut(), seed)) for seed in SEEDS]


def _beyond(before: Analysis, after: Analysis) -> tuple[list[tuple[str, str, dict]], int]:
    """(region, metric, row) called beyond_noise, and how many pairs were judged at all."""
    c = compare(before, after, heatmap=False)
    assert c.comparable, c.reasons
    assert not any("mdc unknown" in n for n in c.notes), c.notes
    hits, judged = [], 0
    for name, rows in c.regions.items():
        for key, row in rows.items():
            if row["beyond_noise"] is not None:
                judged += 1
                if row["beyond_noise"]:
                    hits.append((name, key, row))
    return hits, judged


def test_unchanged_recaptures_stay_inside_the_noise(baseline, follow_ups):
    """No unchanged (region, metric) pair is called a change, up to the 95 % level's own rate.

    mdc = 1.96·√2·SEM is the 95 % limit of the difference of two captures: a difference that
    is pure noise exceeds it with probability 5 % in the region whose SEM it is. The shipped
    study gives each face region its own SEM (the upper 95 % confidence limit of the study's
    SD, never below the phantom's), so over the ~360 pairs judged here a handful of
    exceedances is what a correct 95 % limit predicts, and asserting none would test luck,
    not the table. Up to 5 % of the pairs are therefore allowed; with the phantom-only table
    this rate was about 30 %.
    """
    hits, judged = [], 0
    for after in follow_ups:
        h, j = _beyond(baseline, after)
        hits += h
        judged += j
    # colour, tone, spots and redness of ten regions; wrinkles, texture and pores are null at
    # this photo's 0.46 mm/px and are not judged
    assert judged >= 8 * 10 * len(follow_ups)
    assert len(hits) <= MAX_FALSE_POSITIVE_RATE * judged, hits


def test_the_reported_recapture_stays_inside_the_noise():
    """The reported case: the photo again, rotated 2° and 2 % larger (27 of 90 changes before)."""
    m = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), 2.0, 1.02)
    moved = cv2.warpAffine(astronaut_face(SIZE, seed=1), m, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
    hits, judged = _beyond(analyze(astronaut_face(SIZE)), analyze(moved))
    assert judged >= 80
    assert len(hits) <= MAX_FALSE_POSITIVE_RATE * judged, hits


def test_a_red_patch_on_the_cheek_is_beyond_the_noise(baseline):
    """Positive control: erythema of about 2 cm² (Δa* ≈ +10 at its centre) on the patient's left cheek."""
    scene = astronaut()
    cx, cy = np.round(baseline.landmarks.points[425, :2]).astype(int)  # patient's left cheek
    r = 8.0 / baseline.mm_per_px  # 8 mm radius
    yy, xx = np.mgrid[0 : scene.shape[0], 0 : scene.shape[1]]
    disc = np.clip(r + 0.5 - np.hypot(xx - cx, yy - cy), 0, 1)  # soft-edged disc
    lin = _decode(scene / 255.0)
    lin[..., 0] *= 1 + 0.6 * disc  # more red light where the skin is inflamed
    red = np.round(_encode(np.clip(lin, 0, 1)) * 255).astype(np.uint8)
    after = analyze(recapture(red, SEEDS[0]))
    c = compare(baseline, after, heatmap=False)
    assert c.comparable, c.reasons
    cheek = c.regions["cheek_left"]
    for key in ("red_area_pct", "a_excess_mean"):
        assert cheek[key]["delta"] > 0 and cheek[key]["beyond_noise"] is True, (key, cheek[key])
    # the rest of the face did not change
    for name in ("forehead", "cheek_right", "chin"):
        for key in ("red_area_pct", "a_excess_mean"):
            assert c.regions[name][key]["beyond_noise"] is False, (name, key, c.regions[name][key])


# --- with a colour chart in the frame ---------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated_baseline() -> Analysis:
    return analyze(original(chart=True))


def _brightened(scene: np.ndarray, face: Analysis, gain: float) -> np.ndarray:
    """``scene`` with the skin of the face, up to the hairline, reflecting ``gain`` times more
    light (a brighter complexion, not brighter lighting: the chart beside the face is unchanged)."""
    hull = cv2.convexHull(np.round(face.landmarks.points[:, :2]).astype(np.int32))
    mask = np.zeros(scene.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    reach = cv2.boundingRect(hull)[2] // 4  # the mesh stops below the hairline
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 5.0)[..., None]
    lin = _decode(scene / 255.0) * (1.0 + (gain - 1.0) * soft)
    return np.round(_encode(np.clip(lin, 0, 1)) * 255).astype(np.uint8)


def test_calibrated_recaptures_stay_inside_the_calibrated_noise(calibrated_baseline):
    """With a chart in every photo, the colour medians are judged against the study with a chart
    (mdc several times smaller), and unchanged re-captures are still not called changes."""
    assert calibrated_baseline.calibration["calibrated"]
    hits, judged = [], 0
    for seed in SEEDS[:3]:
        after = analyze(recapture(astronaut(chart=True), seed))
        assert after.calibration["calibrated"], seed
        c = compare(calibrated_baseline, after, heatmap=False)
        assert "calibrated_study" in [n.kind for n in c.notes]
        for key in ("L_median", "b_median"):
            assert c.regions["face"][key]["mdc"] < 2.0, (key, c.regions["face"][key])
        h, j = _beyond(calibrated_baseline, after)
        hits += h
        judged += j
    assert judged >= 8 * 10 * 3
    assert len(hits) <= MAX_FALSE_POSITIVE_RATE * judged, hits


def test_a_brighter_complexion_is_beyond_the_noise_only_with_a_chart(baseline, calibrated_baseline):
    """Positive control for the seed's "brighter": the skin reflects 10 % more light (about
    +2.7 L*), photographed in a later session with other exposure and white balance. With a
    chart in both photos the face's L_median and those of most regions are changes; without
    one, exposure and white balance alone move L* by more than that (the face's mdc is about
    6), so the same change stays inside the noise in every region."""
    seed = SEEDS[3]
    with_chart = analyze(recapture(_brightened(astronaut(chart=True), calibrated_baseline, 1.10), seed))
    c = compare(calibrated_baseline, with_chart, heatmap=False)
    assert c.comparable, c.reasons
    face = c.regions["face"]["L_median"]
    assert 2.0 < face["delta"] < 4.5 and face["beyond_noise"] is True, face
    rows = {name: c.regions[name]["L_median"] for name in c.regions if name != "face"}
    brighter = [name for name, row in rows.items() if row["beyond_noise"] and row["delta"] > 0]
    assert len(brighter) >= 7, rows  # of the nine regions, each judged against its own mdc

    without = analyze(recapture(_brightened(astronaut(), baseline, 1.10), seed))
    c = compare(baseline, without, heatmap=False)
    assert c.comparable, c.reasons
    face = c.regions["face"]["L_median"]
    assert face["delta"] > 0 and face["beyond_noise"] is False, face
    assert not any(rows["L_median"]["beyond_noise"] for rows in c.regions.values())
