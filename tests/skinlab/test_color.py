"""Colour conversion and ColorChecker calibration."""

from __future__ import annotations

import colour
import cv2
import numpy as np
import pytest
from skimage import data
from tests.skinlab._images import SKIN_LAB, chart_scene

from exoderm.skinlab.color import (
    _chart_colours_present,
    delta_e00,
    detect_chart,
    fit_ccm,
    lab_to_srgb8,
    reference_lab,
    reference_srgb,
    srgb_to_lab,
)

D65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]


def _colour_lab(rgb01: np.ndarray) -> np.ndarray:
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb01), D65)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_srgb_to_lab_matches_colour_science(dtype):
    rng = np.random.default_rng(1)
    full = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}[dtype]
    rgb = (rng.random((20, 30, 3)) * full).astype(dtype)
    lab = srgb_to_lab(rgb)
    assert lab.dtype == np.float32 and lab.shape == rgb.shape
    ref = _colour_lab(rgb.astype(np.float64) / full)
    assert np.abs(lab - ref).max() < 0.05


def test_lab_round_trip():
    lab = np.array([[[64.0, 11.0, 16.0], [40.0, 20.0, 25.0], [80.0, 5.0, 12.0]]], np.float32)
    back = srgb_to_lab(lab_to_srgb8(lab))
    assert np.abs(back - lab).max() < 0.6  # 8-bit quantisation


def test_reference_values_are_the_chart():
    ref = reference_srgb()
    assert ref.shape == (24, 3)
    # dark skin and the white patch, After November 2014 data in sRGB D65
    assert np.allclose(np.round(ref[0] * 255), [116, 79, 65], atol=1)
    assert ref[18].min() > 0.9
    lab = reference_lab()
    assert lab[19, 0] > lab[20, 0] > lab[21, 0] > lab[22, 0] > lab[23, 0]  # grey ramp


def test_no_chart_on_a_face_photo():
    assert detect_chart(data.astronaut()) is None  # flag and suit: the finder runs, finds none
    assert not _chart_colours_present(data.coffee())  # the pre-check skips the finder


def test_pre_check_passes_small_charts():
    scene, _ = chart_scene(exposure=0.8, gains=(1.2, 1.0, 0.8))
    tiny = cv2.resize(scene, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)  # 20 px patches
    assert _chart_colours_present(tiny)
    assert detect_chart(tiny) is not None


def test_chart_detected_in_order():
    rgb, _ = chart_scene(noise_sd=0.5)
    det = detect_chart(rgb)
    assert det is not None
    expected = np.clip(reference_srgb(), 0, 1)
    assert np.abs(det.patch_srgb - expected).max() < 0.03
    assert 85 < det.pitch_px < 110  # 80 px patches with 16 px gaps
    assert det.mask(rgb.shape[:2])[300:500, 200:400].all()


PERTURBATIONS = [
    (1.0, (1.0, 1.0, 1.0)),
    (1.2, (1.0, 1.0, 1.0)),
    (0.8, (1.0, 1.0, 1.0)),
    (1.0, (1.2, 1.0, 0.8)),
    (1.0, (0.8, 1.0, 1.2)),
    (1.2, (1.2, 0.9, 0.8)),
    (0.8, (0.85, 1.0, 1.2)),
]


@pytest.mark.parametrize(("exposure", "gains"), PERTURBATIONS)
def test_calibration_recovers_skin_colour(exposure, gains):
    """Acceptance: ±20 % exposure and white balance; skin median within 1.5 L*a*b* units."""
    rgb, skin = chart_scene(exposure=exposure, gains=gains)
    det = detect_chart(rgb)
    assert det is not None
    cal = fit_ccm(det.patch_srgb)
    assert cal.delta_e00_mean < 2.0
    lab = srgb_to_lab(rgb, ccm=cal.ccm)
    med = np.median(lab[skin], axis=0)
    assert np.abs(med - np.array(SKIN_LAB)).max() < 1.5, med
    # and without the chart the perturbation really is visible
    raw = np.median(srgb_to_lab(rgb)[skin], axis=0)
    if exposure != 1.0 or gains != (1.0, 1.0, 1.0):
        assert np.abs(raw - np.array(SKIN_LAB)).max() > 3.0


def test_delta_e00_known_pair():
    # Sharma et al. (2005) test data, pair 1: ΔE00 = 2.0425
    d = delta_e00(np.array([50.0, 2.6772, -79.7751]), np.array([50.0, 0.0, -82.7485]))
    assert abs(float(d) - 2.0425) < 1e-3


def test_overexposed_chart_is_not_fitted():
    lin = reference_srgb(linear=True)
    burnt = np.clip(lin * 4.0, 0, 1) ** (1 / 2.4)  # most patches clipped
    cal = fit_ccm(burnt)
    assert np.array_equal(cal.ccm, np.eye(3))
    assert cal.delta_e00_mean > 6.0  # the pipeline then leaves the photo uncalibrated
