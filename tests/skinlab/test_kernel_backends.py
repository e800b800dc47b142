"""The engine on either kernel backend (``skinlab/kernels.py``): the same metrics from the compiled
kernels and from their NumPy fallback (issue 18), and how the backend is chosen.

Every metric of every region of the phantom and face corpus of the other skinlab tests (three
designs on each of the Fitzpatrick types I to VI, the accuracy phantoms with pores, two regions on
one crop, the close-up with a colour chart through :func:`analyze`, the face photo at its own scale,
at a close-up scale, in 16 bits and with a chart) is required to agree within the metric's mdc
(``data/repeatability.json``, by scale band and region as :func:`~exoderm.skinlab.compare.compare`
chooses it) — the bound the issue sets — and, much tighter, counts identical and every other value
within a relative 1e-9. The NumPy kernels reproduce the compiled ones bit for bit
(``test_kernels.py``), so the two analyses are in fact identical.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from tests.skinlab._images import astronaut_face

from exoderm.skinlab import kernels
from exoderm.skinlab.compare import REPEATABILITY_PATH, Repeatability
from exoderm.skinlab.metrics import RegionMeasurement, measure_regions
from exoderm.skinlab.phantom import FITZPATRICK_LAB, Perturbation, make_phantom
from exoderm.skinlab.pipeline import Analysis, analyze

#: Relative difference allowed between the backends for a value that is not a count.
REL_TOL = 1e-9


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """D65 sRGB -> CIE L*a*b* (OpenCV's float conversion)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def assert_same_metrics(
    native: dict[str, RegionMeasurement], numpy: dict[str, RegionMeasurement], mm_per_px: float | None
) -> None:
    """Every metric of every region within its mdc, and counts equal, the rest within REL_TOL."""
    # the file as it is, also between an engine version and its study's rerun (when
    # load_repeatability refuses it): the mdc is only the loose bound here
    study = Repeatability.from_dict(json.loads(REPEATABILITY_PATH.read_text()))
    table, _ = study.table(mm_per_px)
    assert native.keys() == numpy.keys() and native
    for name, want in native.items():
        got = numpy[name]
        assert (got.area_px, got.area_mm2, got.notes) == (want.area_px, want.area_mm2, want.notes), name
        assert got.metrics.keys() == want.metrics.keys()
        for key, w in want.metrics.items():
            g = got.metrics[key]
            if w is None:
                assert g is None, (name, key, g)
                continue
            assert g is not None, (name, key)
            mdc = table.mdc(name, key)
            assert mdc is None or abs(g - w) <= mdc, (name, key, g, w, mdc)
            if isinstance(w, int):
                assert g == w, (name, key, g, w)
            else:
                assert math.isclose(g, w, rel_tol=REL_TOL, abs_tol=1e-12), (name, key, g, w)


def both(run):
    """``run()`` with the compiled kernels, then with the NumPy ones."""
    with kernels.use("native"):
        native = run()
    with kernels.use("numpy"):
        numpy = run()
    return native, numpy


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("skin_type", list(FITZPATRICK_LAB))
def test_skin_type_phantoms_measure_the_same_on_both_backends(skin_type, seed):
    """The designs of ``test_skin_types.py``: 25 spots, 10 wrinkles, 3 red patches at 0.05 mm/px."""
    ph = make_phantom(
        seed=seed, skin_type=skin_type, spots=25, wrinkles=10, pores=0, perturb=Perturbation.mild(seed)
    )
    lab = to_lab(ph.rgb)
    native, numpy = both(lambda: measure_regions(lab, {"full": ph.mask}, mm_per_px=ph.mm_per_px))
    assert native["full"].metrics["wrinkle_count"] > 0 and native["full"].metrics["spot_count"] > 0
    assert_same_metrics(native, numpy, ph.mm_per_px)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_accuracy_phantoms_with_pores_and_two_regions(seed):
    """The designs of ``test_metrics.py`` (with pores), the skin split into two regions: the
    region sums of several labels in one pass."""
    ph = make_phantom(seed=seed, spots=25, wrinkles=10, perturb=Perturbation.mild(seed))
    lab = to_lab(ph.rgb)
    left = ph.mask.copy()
    left[:, ph.mask.shape[1] // 2 :] = False
    regions = {"full": ph.mask, "left": left, "right": ph.mask & ~left}
    native, numpy = both(lambda: measure_regions(lab, regions, mm_per_px=ph.mm_per_px))
    assert native["full"].metrics["pore_count"] > 0
    assert_same_metrics(native, numpy, ph.mm_per_px)


def assert_same_analysis(native: Analysis, numpy: Analysis) -> None:
    assert numpy.quality.to_dict() == native.quality.to_dict()
    assert numpy.calibration == native.calibration and numpy.scale == native.scale
    assert_same_metrics(native.regions, numpy.regions, native.mm_per_px)


def test_close_up_with_a_chart_analyses_the_same():
    """``test_pipeline.py``'s close-up, larger: its preview goes through ``area_downscale``."""
    skin = make_phantom(
        shape=(1800, 2400), seed=11, spots=30, base_lab=(62.0, 11.0, 16.0), chart=True, chart_pitch_mm=4.0,
        perturb=Perturbation(exposure=0.95, noise_sd=2.0),
    )  # fmt: skip
    native, numpy = both(lambda: analyze(skin.rgb, roi="full", mm_per_px=0.05, find_face=False))
    assert native.calibration["calibrated"]
    assert_same_analysis(native, numpy)


@pytest.fixture(scope="module")
def face_img():
    return astronaut_face(1536)


@pytest.mark.parametrize(
    "variant", ["own scale", "close-up scale", "16 bits", "with a chart"]
)  # fmt: skip
def test_face_photo_analyses_the_same(face_img, variant):
    img, kw = face_img, {}
    if variant == "close-up scale":
        kw = {"mm_per_px": 0.1}  # fine enough for wrinkles and texture
    elif variant == "16 bits":
        img = face_img.astype(np.uint16) * 257
    elif variant == "with a chart":
        img = astronaut_face(1536, chart=True)
    native, numpy = both(lambda: analyze(img, **kw))
    assert len(native.regions) > 1
    assert_same_analysis(native, numpy)


def test_use_switches_and_restores():
    before = kernels.backend_name()
    with kernels.use("numpy") as km:
        assert kernels.backend_name() == "numpy" and kernels.active() is km
        with kernels.use("native"):
            assert kernels.backend_name() == "native"
        assert kernels.backend_name() == "numpy"
    assert kernels.backend_name() == before
    with pytest.raises(ValueError, match="unknown skinlab kernel backend 'fast'"), kernels.use("fast"):
        pass
    assert kernels.backend_name() == before


def _run(code: str, env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, with ``EXODERM_SKINLAB_KERNELS`` as in ``env`` (unset: absent)."""
    full = {k: v for k, v in os.environ.items() if k != kernels.ENV_VAR} | (env or {})
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)


#: A small analysis, and the backend that ran it.
_ANALYSE = (
    "from exoderm.skinlab import kernels\n"
    "from exoderm.skinlab.phantom import make_phantom\n"
    "from exoderm.skinlab.pipeline import analyze\n"
    "ph = make_phantom(shape=(300, 400), seed=4, spots=6, wrinkles=2, red_patches=1, pores=20)\n"
    "r = analyze(ph.rgb, roi=ph.mask, mm_per_px=ph.mm_per_px, find_face=False)\n"
    "assert all(m.metrics['spot_count'] is not None for m in r.regions.values())\n"
    "print(kernels.backend_name())\n"
)

#: Makes the compiled module unimportable, as where it was never built.
_UNBUILT = "import sys\nsys.modules['exoderm.skinlab._kernels'] = None\n"


def test_environment_variable_forces_numpy():
    done = _run(_ANALYSE, {kernels.ENV_VAR: "numpy"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "numpy"
    default = _run(_ANALYSE, None)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == "native" and "NumPy kernels" not in default.stderr


def test_a_bad_value_or_a_missing_native_module_is_a_clear_error():
    bad = _run(_ANALYSE, {kernels.ENV_VAR: "fast"})
    assert bad.returncode != 0
    assert "ValueError: EXODERM_SKINLAB_KERNELS='fast': expected one of native, numpy" in bad.stderr
    missing = _run(_UNBUILT + _ANALYSE, {kernels.ENV_VAR: "native"})
    assert missing.returncode != 0
    assert "ImportError: the compiled skinlab kernels cannot be imported" in missing.stderr


def test_without_the_native_module_numpy_runs_with_one_warning():
    done = _run(_UNBUILT + "import logging\nlogging.basicConfig()\n" + _ANALYSE + _ANALYSE, None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numpy", "numpy"]
    assert done.stderr.count("using the NumPy kernels") == 1, done.stderr
