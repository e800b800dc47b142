"""Face mesh on a real photo (scikit-image's astronaut): regions, exclusions, pose, scale.

MediaPipe 0.10.21 declares numpy<2; these tests prove its face mesh runs on numpy 2.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from skimage import data

from exoderm.skinlab.face import (
    EXCLUSIONS,
    REGIONS,
    detect_face,
    exclusion_masks,
    head_pose,
    iris_mm_per_px,
    region_masks,
)


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def lm(astronaut):
    found = detect_face(astronaut)
    assert found is not None
    return found


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def test_numpy_2_runs_the_mesh(lm):
    assert np.__version__.startswith("2.")
    assert lm.points.shape == (478, 3)


def test_landmarks_on_the_face(lm):
    x0, y0, x1, y1 = lm.bbox(margin=0)
    # the astronaut's face lies within x 170..285, y 60..190 of the 512 x 512 photo
    assert 160 < x0 < 200 and 255 < x1 < 295
    assert 50 < y0 < 90 and 170 < y1 < 200
    # patient's left outer eye corner (263) is on the image right of the right one (33)
    assert lm.points[263, 0] > lm.points[33, 0]


def test_region_layout(astronaut, lm):
    masks = region_masks(lm, astronaut.shape[:2])
    assert set(masks) == set(REGIONS)
    c = {k: _centroid(v) for k, v in masks.items()}
    for name, m in masks.items():
        assert m.sum() > 100, name
    y = {k: v[1] for k, v in c.items()}
    x = {k: v[0] for k, v in c.items()}
    assert y["forehead"] < y["glabella"] < y["nose"] < y["perioral"] < y["chin"]
    for side in ("left", "right"):
        assert y["forehead"] < y[f"periorbital_{side}"] < y[f"cheek_{side}"] < y["chin"]
    # the patient's left is the image's right in a frontal photo
    assert x["cheek_right"] < x["nose"] < x["cheek_left"]
    assert x["periorbital_right"] < x["glabella"] < x["periorbital_left"]
    assert x["cheek_right"] < x["periorbital_left"] and x["periorbital_right"] < x["cheek_left"]
    # periorbital regions contain the eyes' positions (before exclusion)
    for idx, side in ((468, "right"), (473, "left")):
        px, py = np.round(lm.points[idx, :2]).astype(int)
        assert masks[f"periorbital_{side}"][py, px]
    # the regions do not overlap
    for a, b in itertools.combinations(REGIONS, 2):
        assert not (masks[a] & masks[b]).any(), (a, b)


def test_exclusions_sit_on_features(astronaut, lm):
    ex = exclusion_masks(lm, astronaut.shape[:2])
    assert set(ex) == set(EXCLUSIONS)
    for name, m in ex.items():
        assert m.any(), name
    for idx in (468, 473):  # iris centres
        px, py = np.round(lm.points[idx, :2]).astype(int)
        assert ex["eyes"][py, px]
    mx, my = np.round(lm.points[13, :2]).astype(int)  # inner upper lip
    assert ex["lips"][my, mx]
    # brows are above the eyes, nostrils below the eyes and above the lips
    assert _centroid(ex["brows"])[1] < _centroid(ex["eyes"])[1] < _centroid(ex["nostrils"])[1]
    assert _centroid(ex["nostrils"])[1] < _centroid(ex["lips"])[1]
    # exclusions cover little of the cheeks
    masks = region_masks(lm, astronaut.shape[:2])
    assert (masks["cheek_left"] & ex["eyes"]).sum() < 0.1 * masks["cheek_left"].sum()


def test_pose_frontal_and_under_transformations(astronaut, lm):
    pose = head_pose(lm)
    assert set(pose) == {"yaw", "pitch", "roll"}
    assert abs(pose["yaw"]) < 8 and abs(pose["roll"]) < 8 and abs(pose["pitch"]) < 15
    # rotating the photo 12° clockwise adds about 12° of roll
    m = cv2.getRotationMatrix2D((256, 256), -12, 1.0)
    rotated = detect_face(cv2.warpAffine(astronaut, m, (512, 512)))
    assert rotated is not None
    assert abs(head_pose(rotated)["roll"] - pose["roll"] - 12) < 3
    # a mirrored photo mirrors yaw and roll
    flipped = detect_face(np.ascontiguousarray(astronaut[:, ::-1]))
    assert flipped is not None
    fp = head_pose(flipped)
    assert abs(fp["roll"] + pose["roll"]) < 2.5
    assert abs(fp["yaw"] + pose["yaw"]) < 3


def test_iris_scale_plausible_and_resolution_independent(astronaut, lm):
    s = iris_mm_per_px(lm)
    assert s is not None
    face_width_mm = np.linalg.norm(lm.points[234, :2] - lm.points[454, :2]) * s
    assert 115 < face_width_mm < 175  # adult bizygomatic-ish width from mesh extremes
    big = detect_face(cv2.resize(astronaut, (1536, 1536), interpolation=cv2.INTER_CUBIC))
    assert big is not None
    s3 = iris_mm_per_px(big)
    assert s3 is not None
    assert abs(s3 * 3 / s - 1) < 0.1
    # landmarks scale with the image
    assert np.abs(big.points[:, :2] / 3 - lm.points[:, :2]).mean() < 2.0


def test_uint16_and_non_square_input(astronaut):
    tall = np.zeros((800, 512, 3), np.uint8)
    tall[100:612] = astronaut
    found = detect_face(tall.astype(np.uint16) * 257)
    assert found is not None
    assert found.image_shape == (800, 512)
    ref = detect_face(astronaut)
    assert ref is not None
    assert np.abs(found.points[:, 1] - 100 - ref.points[:, 1]).mean() < 2.0


def test_no_face_returns_none():
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (400, 600, 3), dtype=np.uint8), (0, 0), 3)
    assert detect_face(noise) is None
    assert detect_face(data.coffee()) is None
