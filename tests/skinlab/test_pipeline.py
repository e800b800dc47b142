"""analyze(): the spec's JSON record on real faces, exclusions, ROI modes, calibration, bad input."""

from __future__ import annotations

import io
import itertools
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data
from tests.skinlab._images import SKIN_LAB, astronaut_face, render_chart

from exoderm.skinlab import ENGINE_VERSION
from exoderm.skinlab.face import REGIONS
from exoderm.skinlab.io import ImageLoadError, SkinlabError
from exoderm.skinlab.metrics import METRIC_KEYS
from exoderm.skinlab.overlay import region_overlay, save_png
from exoderm.skinlab.phantom import Perturbation, make_phantom
from exoderm.skinlab.pipeline import Analysis, analyze

TOP_KEYS = {"engine_version", "file", "width", "height", "calibration", "scale", "quality", "regions"}


@pytest.fixture(scope="module")
def face_img():
    return astronaut_face(1536)


@pytest.fixture(scope="module")
def result(face_img):
    return analyze(face_img)


def test_record_has_the_spec_shape(result):
    d = result.to_dict()
    assert set(d) == TOP_KEYS
    assert d["engine_version"] == ENGINE_VERSION
    assert (d["width"], d["height"]) == (1536, 1536)
    assert d["calibration"] == {"calibrated": False, "chart": None, "delta_e00_mean": None}
    assert d["scale"]["source"] == "iris" and 0.3 < d["scale"]["mm_per_px"] < 0.6
    q = d["quality"]
    assert set(q) == {
        "sharpness",
        "effective_blur_px",
        "effective_blur_mm",
        "edge_overshoot_pct",
        "clipped_pct",
        "pose",
        "usable",
        "notes",
    }
    assert set(q["pose"]) == {"yaw", "pitch", "roll"}
    assert list(d["regions"]) == [*REGIONS, "face"]
    for name, r in d["regions"].items():
        assert set(r) == {"area_px", "area_mm2", "metrics", "notes"}
        assert r["area_px"] > 500, name
        assert r["area_mm2"] == pytest.approx(r["area_px"] * d["scale"]["mm_per_px"] ** 2, rel=1e-3)
        assert set(r["metrics"]) == set(METRIC_KEYS)
    json.dumps(d, allow_nan=False)  # strict JSON: no NaN
    assert set(result.timings) == {"decode", "chart", "landmarks", "color", "masks", "metrics", "quality"}
    assert set(result.cpu_timings) == set(result.timings)


def test_skin_colour_is_plausible(result):
    m = result.to_dict()["regions"]["cheek_left"]["metrics"]
    assert 55 < m["L_median"] < 85 and 3 < m["a_median"] < 20 and 8 < m["b_median"] < 30
    assert m["ita_deg"] == pytest.approx(
        np.degrees(np.arctan((m["L_median"] - 50) / m["b_median"])), abs=0.01
    )


def test_masks_disjoint_and_union_is_face(result):
    masks = result.masks
    for a, b in itertools.combinations(REGIONS, 2):
        assert not (masks[a] & masks[b]).any(), (a, b)
    union = np.logical_or.reduce([masks[r] for r in REGIONS])
    assert np.array_equal(union, masks["face"])
    # eyes and lips are excluded
    x0, y0 = result.box[:2]
    for idx in (468, 473, 13, 14):
        px, py = np.round(result.landmarks.points[idx, :2] - (x0, y0)).astype(int)
        assert not masks["face"][py, px]


def test_glare_and_shadow_excluded(face_img, result):
    img = face_img.copy()
    p = result.landmarks.points
    cx, cy = np.round(p[205, :2]).astype(int)  # patient's right cheek
    img[cy - 6 : cy + 6, cx - 6 : cx + 6] = 255
    gx, gy = np.round(p[425, :2]).astype(int)  # patient's left cheek
    img[gy - 6 : gy + 6, gx - 6 : gx + 6] = 5
    r = analyze(img)
    x0, y0 = r.box[:2]
    assert not r.masks["cheek_right"][cy - y0 - 5 : cy - y0 + 5, cx - x0 - 5 : cx - x0 + 5].any()
    assert not r.masks["cheek_left"][gy - y0 - 5 : gy - y0 + 5, gx - x0 - 5 : gx - x0 + 5].any()
    assert result.masks["cheek_right"][cy - y0, cx - x0]


def test_hair_on_forehead_excluded(result):
    lab = result.lab
    fh = result.masks["forehead"]
    # what is left of the forehead is skin-coloured, not the brown hair over it
    assert np.percentile(lab[..., 0][fh], 5) > np.median(lab[..., 0][result.masks["cheek_left"]]) - 25


def test_caller_scale_and_full_and_mask_roi(face_img, result):
    r = analyze(face_img, mm_per_px=0.2, roi="full")
    d = r.to_dict()
    assert d["scale"] == {"mm_per_px": 0.2, "source": "caller"}
    assert list(d["regions"]) == ["full"]
    full = r.masks["full"]
    # the face's skin is in; the grey wall (not skin-coloured, judged against the cheeks) is out
    x0, y0, x1, y1 = result.box
    assert (full[y0:y1, x0:x1] & result.masks["face"]).sum() > 0.9 * result.masks["face"].sum()
    assert full[150:350, 960:1110].mean() < 0.05
    m = np.zeros(face_img.shape[:2], bool)
    m[600:900, 700:900] = True
    rm = analyze(face_img, roi=m)
    assert list(rm.regions) == ["mask"]
    assert 0 < rm.regions["mask"].area_px <= m.sum()
    with pytest.raises(SkinlabError, match="ROI mask"):
        analyze(face_img, roi=np.zeros((10, 10), bool))
    with pytest.raises(SkinlabError, match="positive"):
        analyze(face_img, mm_per_px=-1.0)


def test_no_face_is_a_documented_null():
    r = analyze(data.coffee())
    d = r.to_dict()
    assert d["regions"] == {}
    assert d["quality"]["usable"] is False and "no face found" in d["quality"]["notes"]
    assert d["quality"]["pose"] is None
    full = analyze(data.coffee(), roi="full")
    assert list(full.regions) == ["full"] and full.quality.pose is None
    fd = full.to_dict()
    assert fd["scale"] == {"mm_per_px": None, "source": None}
    assert fd["regions"]["full"]["area_mm2"] is None
    assert fd["regions"]["full"]["metrics"]["spot_area_mm2"] is None  # no scale: no mm
    assert any("scale unknown" in n for n in fd["quality"]["notes"])


def test_a_close_up_is_analysed_without_looking_for_a_face():
    """The face mesh "finds" a face, rolled 67°, in this close-up of (synthetic) skin with a colour
    chart (the demo's baseline); its pose made the close-up unusable and its pair not comparable.
    A close-up is therefore analysed with ``find_face=False``, as the web app does."""
    skin = make_phantom(
        shape=(900, 1200), seed=11, spots=30, base_lab=(62.0, 11.0, 16.0), chart=True, chart_pitch_mm=4.0,
        perturb=Perturbation(exposure=0.95, noise_sd=2.0),
    )  # fmt: skip
    looked = analyze(skin.rgb, roi="full", mm_per_px=0.05, keep_arrays=False)
    assert looked.landmarks is not None and not looked.quality.usable  # the false face
    close_up = analyze(skin.rgb, roi="full", mm_per_px=0.05, keep_arrays=False, find_face=False)
    assert close_up.landmarks is None and close_up.quality.pose is None
    assert close_up.quality.usable and close_up.quality.notes == []
    assert close_up.calibration["calibrated"]
    with pytest.raises(ValueError, match="find_face"):
        analyze(skin.rgb, find_face=False)


def test_greyscale_and_tiny_and_truncated_input():
    grey = np.repeat(data.camera()[..., None], 3, axis=2)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "JPEG")
    with pytest.raises(ImageLoadError, match="greyscale"):
        analyze(buf.getvalue())
    with pytest.raises(ImageLoadError, match="greyscale"):
        analyze(grey)  # pixels given as an array are checked like files
    with pytest.raises(ImageLoadError):
        analyze(np.zeros((1, 1, 3), np.uint8))
    _, enc = cv2.imencode(".jpg", astronaut_face(512)[..., ::-1])
    with pytest.raises(ImageLoadError, match=r"truncated|corrupt"):
        analyze(enc.tobytes()[:5000])


def test_chart_calibrates_a_face_photo():
    """A face photo with a ColorChecker, exposure and white balance off by 20 %."""
    from exoderm.skinlab.color import _decode, _encode

    img = astronaut_face(1536)
    chart = render_chart(50)
    ch, cw = chart.shape[:2]
    img[1536 - ch - 30 : 1536 - 30, 30 : 30 + cw] = chart
    skin = np.zeros(img.shape[:2], bool)
    skin[40:140, 1300:1500] = True  # a painted skin patch of known colour, top right
    from exoderm.skinlab.color import lab_to_srgb8

    img[skin] = lab_to_srgb8(np.array([[SKIN_LAB]], np.float32))[0, 0]
    shot = np.round(_encode(np.clip(_decode(img / 255.0) * 1.2 * np.array([1.15, 1.0, 0.85]), 0, 1)) * 255)
    shot = shot.astype(np.uint8)
    raw = analyze(shot, roi=skin)
    assert raw.calibration["calibrated"] is True
    assert raw.calibration["delta_e00_mean"] < 2.0
    m = raw.regions["mask"].metrics
    assert abs(m["L_median"] - SKIN_LAB[0]) < 1.5
    assert abs(m["a_median"] - SKIN_LAB[1]) < 1.5
    assert abs(m["b_median"] - SKIN_LAB[2]) < 1.5
    # the chart is excluded from a full-image region
    full = analyze(shot, roi="full")
    assert not full.masks["full"][1536 - ch - 20 : 1536 - 40, 40 : 20 + cw].any()
    face = analyze(shot)
    assert face.calibration["calibrated"] and len(face.regions) == 10


def test_overlay_png(result, tmp_path):
    ov = region_overlay(result)
    assert ov.dtype == np.uint8 and ov.ndim == 3
    path = save_png(ov, tmp_path / "overlay.png")
    back = cv2.imread(str(path))
    assert back.shape == ov.shape
    # region outlines are drawn in their colours: some pixels changed to the cheek colour
    assert (np.abs(ov.astype(int) - (120, 230, 120)).sum(axis=-1) == 0).sum() > 50
    # the overlay is the analysed box at full resolution (it is below max_side here): pixels
    # outside the measured skin are dimmed to 45 %, skin pixels away from any drawing are kept
    x0, y0, x1, y1 = result.box
    photo = result.rgb[y0:y1, x0:x1].astype(int)
    assert ov.shape == photo.shape
    away = np.ones((15, 15), np.uint8)  # beyond the outlines drawn along the regions' borders
    outside = cv2.erode((~result.masks["face"]).view(np.uint8), away) > 0
    assert outside.sum() > 1000
    dimmed = np.abs(ov[outside].astype(int) - np.rint(0.45 * photo[outside])).max(axis=-1) <= 1
    assert dimmed.mean() > 0.97  # the rest: region labels wider than their region
    untouched = cv2.erode(result.masks["cheek_left"].view(np.uint8), np.ones((25, 25), np.uint8)) > 0
    drawn = cv2.dilate((ov.astype(int) != photo).any(axis=-1).view(np.uint8), np.ones((3, 3), np.uint8))
    assert (untouched & (drawn == 0)).sum() > 0.5 * untouched.sum()


def test_record_round_trip_and_uint16(face_img, result):
    d = result.to_dict()
    back = Analysis.from_dict(json.loads(json.dumps(d)))
    assert back.to_dict() == d
    r16 = analyze(face_img.astype(np.uint16) * 257)
    m8 = d["regions"]["cheek_left"]["metrics"]
    m16 = r16.to_dict()["regions"]["cheek_left"]["metrics"]
    for key in ("L_median", "a_median", "b_median"):
        assert abs(m16[key] - m8[key]) < 0.3


@pytest.mark.parametrize(
    ("exposure", "gains"),
    [(1.0, (1.0, 1.0, 1.0)), (1.2, (1.2, 1.0, 0.8)), (0.8, (0.8, 1.0, 1.2)), (1.2, (0.8, 1.0, 1.2))],
)
def test_chart_calibrates_the_skin_phantom(exposure, gains):
    """Acceptance on the metrics helper's phantom: textured skin with spots, chart, JPEG."""
    from exoderm.skinlab.phantom import Perturbation, make_phantom

    ph = make_phantom(
        seed=3,
        chart=True,
        shading=0.0,
        perturb=Perturbation(exposure=exposure, wb_gains=gains, noise_sd=2.0, jpeg_quality=92),
    )
    truth = np.median(ph.lab[ph.mask], axis=0)  # the designed skin, before capture
    r = analyze(ph.rgb, roi=ph.mask, mm_per_px=ph.mm_per_px)
    assert r.calibration["calibrated"] and r.calibration["delta_e00_mean"] < 2.0
    m = r.regions["mask"].metrics
    got = np.array([m["L_median"], m["a_median"], m["b_median"]])
    assert np.abs(got - truth).max() < 1.5, (got, truth)


def test_package_exports_load_lazily():
    code = (
        "import sys\n"
        "from exoderm.skinlab import ENGINE_VERSION\n"
        "assert 'cv2' not in sys.modules and 'numpy' not in sys.modules, 'heavy imports at start-up'\n"
        "import exoderm.skinlab as s\n"
        "assert set(s.__all__) == set(s._EXPORTS) | {'ENGINE_VERSION'}\n"
        "from exoderm.skinlab import analyze, compare, SkinlabError\n"
        "assert callable(analyze) and callable(compare) and issubclass(SkinlabError, Exception)\n"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_exif_rotated_phone_photo(face_img, result):
    """A JPEG stored sideways with EXIF orientation 6 is analysed upright."""
    stored = np.ascontiguousarray(np.rot90(face_img, k=1))  # sensor rows: rotated 90° counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer rotates it back, 90° clockwise
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, "JPEG", quality=95, exif=exif)
    r = analyze(buf.getvalue())
    assert (r.width, r.height) == (1536, 1536)
    assert abs(r.quality.pose["roll"] - result.quality.pose["roll"]) < 2
    lm_ref = result.landmarks.points[:, :2]
    assert np.abs(r.landmarks.points[:, :2] - lm_ref).mean() < 3
