"""compare(): comparability rules, mdc / beyond_noise, alignment and the ΔL* heat map."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from tests.skinlab._images import astronaut_face

from exoderm.skinlab import ENGINE_VERSION
from exoderm.skinlab.color import _decode, _encode
from exoderm.skinlab.compare import align, compare, load_repeatability
from exoderm.skinlab.overlay import difference_overlay, save_png
from exoderm.skinlab.pipeline import Analysis, analyze

SIZE = 1536


def _moved(img, angle=3.0, scale=1.03, shift=(12.0, -9.0)):
    m = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), angle, scale)
    m[:, 2] += shift
    return cv2.warpAffine(img, m, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT), m


@pytest.fixture(scope="module")
def base_img():
    return astronaut_face(SIZE)


@pytest.fixture(scope="module")
def before(base_img):
    return analyze(base_img)


@pytest.fixture(scope="module")
def moved(base_img):
    img, m = _moved(astronaut_face(SIZE, seed=1))
    return analyze(img), m


def _rep(mdc_L=1.0):
    return {"L_median": {"sem": mdc_L / 2.77, "mdc": mdc_L, "cv_pct": 1.0}}


def test_same_face_moved_is_comparable_and_aligned(before, moved):
    after, m = moved
    c = compare(before, after, repeatability=_rep())
    assert c.comparable and c.reasons == []
    # the recovered warp maps baseline points to where the true motion put them
    al = c.alignment
    assert al is not None and al.ecc is not None and al.ecc > 0.95
    x0, y0 = before.box[:2]
    pts = before.landmarks.points[[1, 33, 263, 152], :2]
    truth = pts @ m[:, :2].T + m[:, 2]
    small = (pts - (x0, y0)) * al.scale
    est = (small @ al.matrix[:, :2].T + al.matrix[:, 2]) / al.scale
    assert np.abs(est - truth).max() < 1.5  # full-resolution pixels
    # heat map of an unchanged face is flat
    d = c.delta_L
    assert d is not None and np.nanmean(np.abs(d)) < 0.6


def test_heat_map_shows_a_local_change(base_img, before, tmp_path):
    img, _ = _moved(base_img, angle=-2.0, scale=1.0, shift=(5.0, 7.0))
    after0 = analyze(img)
    p = after0.landmarks.points
    cx, cy = np.round(p[425, :2]).astype(int)  # patient's left cheek
    lin = _decode(img / 255.0)
    lin[cy - 25 : cy + 25, cx - 25 : cx + 25] *= 1.25  # brighter patch, about +5 L*
    rx, ry = np.round(p[205, :2]).astype(int)  # patient's right cheek
    lin[ry - 25 : ry + 25, rx - 25 : rx + 25, 0] *= 1.3  # redder patch
    brighter = np.round(_encode(np.clip(lin, 0, 1)) * 255).astype(np.uint8)
    c = compare(before, analyze(brighter), repeatability=_rep())
    d = c.delta_L
    assert d is not None
    bx, by = np.round(before.landmarks.points[425, :2] - before.box[:2]).astype(int)
    s = c.alignment.scale
    patch = d[round((by - 15) * s) : round((by + 15) * s), round((bx - 15) * s) : round((bx + 15) * s)]
    assert 3.5 < np.nanmedian(patch) < 7.0
    assert abs(np.nanmedian(d)) < 0.5  # the rest of the face unchanged
    da = c.delta_a
    bx, by = np.round(before.landmarks.points[205, :2] - before.box[:2]).astype(int)
    red = da[round((by - 15) * s) : round((by + 15) * s), round((bx - 15) * s) : round((bx + 15) * s)]
    assert np.nanmedian(red) > 4.0
    assert abs(np.nanmedian(da)) < 0.5
    for channel in ("L", "a"):
        png = save_png(difference_overlay(c, channel=channel), tmp_path / f"difference_{channel}.png")
        assert cv2.imread(str(png)) is not None


def test_mdc_and_beyond_noise(before, base_img):
    darker = np.round(_encode(_decode(base_img / 255.0) * 0.8) * 255).astype(np.uint8)
    after = analyze(darker)
    c = compare(before, after, repeatability=_rep(1.0), heatmap=False)
    assert c.comparable
    row = c.regions["cheek_left"]["L_median"]
    assert row["delta"] == pytest.approx(row["after"] - row["before"], abs=1e-3)
    assert row["delta"] < -3 and row["mdc"] == 1.0 and row["beyond_noise"] is True
    big = compare(before, after, repeatability=_rep(50.0), heatmap=False)
    assert big.regions["cheek_left"]["L_median"]["beyond_noise"] is False
    # metrics with no repeatability entry have unknown mdc and no claim
    assert c.regions["cheek_left"]["spot_count"]["mdc"] is None
    assert c.regions["cheek_left"]["spot_count"]["beyond_noise"] is None
    # nor do metrics whose study found no variation at all (mdc 0)
    zero = compare(
        before, after, repeatability={**_rep(1.0), "a_median": {"sem": 0.0, "mdc": 0.0}}, heatmap=False
    )
    assert zero.regions["cheek_left"]["a_median"]["mdc"] is None
    assert zero.regions["cheek_left"]["a_median"]["beyond_noise"] is None
    assert zero.regions["cheek_left"]["L_median"]["beyond_noise"] is True
    assert any("a_median" in n for n in zero.notes)
    d = c.to_dict()
    assert {"comparable", "reasons", "regions", "before", "after"} <= set(d)
    json.dumps(d, allow_nan=False)


def test_missing_or_stale_repeatability_claims_nothing(before, tmp_path):
    c = compare(before, before, repeatability=tmp_path / "nope.json", heatmap=False)
    assert c.comparable
    row = c.regions["face"]["L_median"]
    assert row["delta"] == 0 and row["mdc"] is None and row["beyond_noise"] is None
    assert any("mdc unknown" in n for n in c.notes)
    stale = tmp_path / "old.json"
    stale.write_text(json.dumps({"engine_version": "0.9.0", "metrics": {"L_median": {"sem": 1, "mdc": 2.8}}}))
    study, why = load_repeatability(stale)
    assert study is None and "0.9.0" in why
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"engine_version": ENGINE_VERSION, "metrics": _rep(2.0)}))
    study, why = load_repeatability(good)  # the format without scale bands: one band, every scale
    assert why is None and study is not None
    (band,) = study.bands
    assert band.mm_per_px is None and band.metrics["L_median"]["mdc"] == 2.0


def test_not_comparable_reasons(before, base_img):
    # pose: a 15° roll
    rolled, _ = _moved(base_img, angle=-15.0, scale=1.0, shift=(0.0, 0.0))
    c = compare(before, analyze(rolled), repeatability=_rep(), heatmap=False)
    assert not c.comparable and any("roll" in r for r in c.reasons)
    assert all(v["beyond_noise"] is None for v in c.regions["face"].values())
    # each reason is its English text, with its kind and numbers for other wordings
    (roll,) = [r for r in c.reasons if r.kind == "pose"]
    assert roll.params["axis"] == "roll" and roll.params["limit"] == 10.0
    assert roll == f"pose differs: roll {roll.params['value']:+.1f}° (limit ±10°)"
    assert abs(roll.params["value"]) > 10 and json.loads(json.dumps(c.to_dict()))["reasons"] == c.reasons
    # scale: the face 25 % larger
    bigger, _ = _moved(base_img, angle=0.0, scale=1.25, shift=(0.0, 0.0))
    c = compare(before, analyze(bigger), repeatability=_rep(), heatmap=False)
    (scale,) = [r for r in c.reasons if r.kind == "scale"]
    # a 25 % larger face has 20 % fewer mm per pixel
    assert str(scale).startswith("scale differs by -2")
    assert scale.params["value"] == pytest.approx(1 / 1.25 - 1, abs=0.03)
    # calibration on one side only
    cal = analyze(base_img)
    cal.calibration = {"calibrated": True, "chart": "classic24", "delta_e00_mean": 1.0}
    c = compare(before, cal, repeatability=_rep(), heatmap=False)
    assert c.reasons == ["calibration differs: before without chart, after with"]
    assert (c.reasons[0].kind, c.reasons[0].params) == ("calibration", {"before": False, "after": True})
    # an unusable photo
    blurred = analyze(cv2.GaussianBlur(base_img, (0, 0), 6))
    assert not blurred.quality.usable
    c = compare(before, blurred, repeatability=_rep(), heatmap=False)
    (unusable,) = [r for r in c.reasons if r.kind == "unusable"]
    assert unusable.startswith("after photo unusable: blurred") and unusable.params["photo"] == "after"
    assert [p.kind for p in unusable.params["problems"]] == ["blurred"]


def test_align_needs_faces(before):
    from skimage import data

    assert align(before, analyze(data.coffee(), roi="full")) is None


def test_compare_from_stored_records(before, moved):
    after, _ = moved
    live = compare(before, after, repeatability=_rep(), heatmap=False)
    stored = compare(
        Analysis.from_dict(before.to_dict()),
        Analysis.from_dict(after.to_dict()),
        repeatability=_rep(),
        heatmap=False,
    )
    assert stored.comparable == live.comparable
    assert stored.regions == live.regions


def test_a_lossless_baseline_against_jpeg_follow_ups_judges_no_compression_sensitive_metric():
    """JPEG alone removes the finest spots, pores and part of the redness: against a PNG
    baseline every JPEG re-capture of the same phantom would show less spot area. Told the
    formats (as ``analyze`` of a file is), ``compare`` does not judge those metrics."""
    from exoderm.skinlab.compare import COMPRESSION_SENSITIVE
    from exoderm.skinlab.phantom import Perturbation, make_phantom

    def capture(seed: int, *, lossless: bool) -> Analysis:
        perturb = Perturbation.random(seed)  # with a JPEG quality, applied here as the file's
        ph = make_phantom(
            seed=0, spots=25, wrinkles=10, red_patches=3, pores=300,
            perturb=dataclasses.replace(perturb, jpeg_quality=None),
        )  # fmt: skip
        bgr = np.ascontiguousarray(ph.rgb[..., ::-1])
        ok, data = (
            cv2.imencode(".png", bgr)
            if lossless
            else cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, perturb.jpeg_quality])
        )
        assert ok
        return analyze(data.tobytes(), roi="full", mm_per_px=ph.mm_per_px, keep_arrays=False)

    baseline = capture(7000, lossless=True)
    follow_ups = [capture(seed, lossless=False) for seed in (8000, 8001)]
    assert baseline.lossless is True and {a.lossless for a in follow_ups} == {False}

    blind = Analysis.from_dict(baseline.to_dict())  # a record that does not know its file format
    assert blind.lossless is None
    fooled = [
        compare(blind, a, heatmap=False).regions["full"]["spot_area_mm2"]["beyond_noise"] for a in follow_ups
    ]
    assert fooled == [True, True]  # the trap: the same skin, "less spot area"

    for after in follow_ups:
        result = compare(baseline, after, heatmap=False)
        rows = result.regions["full"]
        assert result.comparable
        assert {k for k, row in rows.items() if row["beyond_noise"] is None} == COMPRESSION_SENSITIVE
        assert not any(row["beyond_noise"] for row in rows.values())
        assert all(rows[k]["mdc"] is not None for k in COMPRESSION_SENSITIVE)  # still shown
        assert any("lossy (JPEG, HEIC) and the other lossless" in note for note in result.notes)
    # the same formats on both sides: judged as usual
    same = compare(follow_ups[0], follow_ups[1], heatmap=False).regions["full"]
    assert all(same[k]["beyond_noise"] is not None for k in COMPRESSION_SENSITIVE)


@pytest.fixture(scope="module")
def close_ups() -> tuple[Analysis, Analysis]:
    """Two unsharpened captures of the study's phantom at its close-up scale, as stored records."""
    from exoderm.skinlab.phantom import Perturbation, make_phantom

    def capture(seed: int) -> Analysis:
        ph = make_phantom(
            seed=0, spots=25, wrinkles=10, red_patches=3, pores=300, perturb=Perturbation.random(seed)
        )
        a = analyze(ph.rgb, roi="full", mm_per_px=ph.mm_per_px, find_face=False, keep_arrays=False)
        return Analysis.from_dict(a.to_dict())

    return capture(9400), capture(9401)


def _with_overshoot(a: Analysis, pct: float | None) -> Analysis:
    record = a.to_dict()
    if pct is None:
        del record["quality"]["edge_overshoot_pct"]  # as engines before it was measured stored it
    else:
        record["quality"]["edge_overshoot_pct"] = pct
    return Analysis.from_dict(record)


def _processing_notes(result) -> list:
    return [n for n in result.notes if n.kind in ("sharpened", "processing_differs")]


def test_the_camera_processing_decides_which_metrics_are_judged(close_ups):
    from exoderm.skinlab.compare import (
        EDGE_OVERSHOOT_COVERED_PCT,
        EDGE_OVERSHOOT_DIFF_COVERED_PCT,
        PROCESSING_SENSITIVE,
    )

    before, after = close_ups
    low = before.quality.edge_overshoot_pct
    assert low is not None and low < 1.0  # unsharpened
    covered, difference = EDGE_OVERSHOOT_COVERED_PCT["phantom"], EDGE_OVERSHOOT_DIFF_COVERED_PCT["phantom"]

    def unjudged(b: Analysis, a: Analysis):
        result = compare(b, a, heatmap=False)
        assert result.comparable
        rows = result.regions["full"]
        return {k for k, row in rows.items() if row["beyond_noise"] is None}, _processing_notes(result)

    # processed alike, within what the study covered: every metric judged
    assert unjudged(before, after) == (set(), [])
    alike = low + difference - 0.1
    assert unjudged(_with_overshoot(before, alike), _with_overshoot(after, alike + 0.05)) == (set(), [])
    # processed differently (a phone's default against a RAW-like mode)
    keys, (note,) = unjudged(before, _with_overshoot(after, low + difference + 0.5))
    assert keys == PROCESSING_SENSITIVE and note.kind == "processing_differs"
    assert note.params["metrics"] == sorted(PROCESSING_SENSITIVE) and note.params["limit"] == difference
    assert "a change of device or camera mode alone changes these" in note and "Pro or RAW mode" in note
    # one photo strongly sharpened: so noted, whatever the other
    keys, (note,) = unjudged(_with_overshoot(before, covered + 1), after)
    assert keys == PROCESSING_SENSITIVE and note.kind == "sharpened" and note.params["photo"] == "before"
    assert note.params["value"] == covered + 1 and note.params["limit"] == covered
    # both through one strongly sharpening pipeline: noted as such, the two count as processed alike
    strong = _with_overshoot(before, 14.0), _with_overshoot(after, 15.5)
    keys, (note,) = unjudged(*strong)
    assert keys == PROCESSING_SENSITIVE and note.params["photo"] == "both"
    assert "both photos look strongly sharpened by the camera" in note


def test_records_without_the_edge_overshoot_are_not_judged_on_processing(close_ups):
    before, after = close_ups
    old = _with_overshoot(before, None)
    assert old.quality.edge_overshoot_pct is None
    result = compare(old, _with_overshoot(after, 30.0), heatmap=False)
    # the follow-up alone is beyond what the study covered
    (note,) = _processing_notes(result)
    assert note.kind == "sharpened" and note.params["photo"] == "after"
    result = compare(old, after, heatmap=False)
    assert _processing_notes(result) == []
    assert all(row["beyond_noise"] is not None for row in result.regions["full"].values())
