"""Face landmarks, analysis regions, exclusion masks, head pose and iris scale.

Landmarks come from MediaPipe Face Mesh (478 points with ``refine_landmarks=True``, iris
included), run on a downscaled, square-padded copy; one ``FaceMesh`` is kept per process.
Left and right are the patient's own: for a frontal photo the patient's left is the image's
right. MediaPipe's index pairs follow the same convention (263 is the patient's left outer
eye corner, 33 the right one).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from .io import Preview, make_preview

__all__ = [
    "EXCLUSIONS",
    "IRIS_DIAMETER_MM",
    "REGIONS",
    "FaceLandmarks",
    "detect_face",
    "draw_exclusions",
    "exclusion_masks",
    "head_pose",
    "iris_mm_per_px",
    "region_labels",
    "region_masks",
    "region_polygons",
]

IRIS_DIAMETER_MM = 11.7
"""Horizontal visible iris diameter used for scale (spec)."""

REGIONS = (
    "forehead",
    "glabella",
    "periorbital_left",
    "periorbital_right",
    "cheek_left",
    "cheek_right",
    "nose",
    "perioral",
    "chin",
)
EXCLUSIONS = ("eyes", "brows", "lips", "nostrils")

# fmt: off
# Mirror pairs (patient's right index, patient's left index) for every index used below.
_PAIRS = (
    (46, 276), (53, 283), (52, 282), (65, 295), (55, 285), (193, 417), (245, 465), (188, 412),
    (128, 357), (121, 350), (120, 349), (119, 348), (118, 347), (117, 346), (111, 340),
    (143, 372), (156, 383), (174, 399), (217, 437), (126, 355), (209, 429), (49, 279),
    (48, 278), (64, 294), (98, 327), (97, 326), (203, 423), (206, 426), (216, 436), (212, 432),
    (214, 434), (138, 367), (215, 435), (177, 401), (137, 366), (227, 447), (34, 264),
    (202, 422), (210, 430), (204, 424), (194, 418), (201, 421), (169, 394), (150, 379),
    (149, 378), (176, 400), (148, 377), (70, 300), (71, 301), (68, 298), (54, 284), (103, 332),
    (67, 297), (109, 338), (63, 293), (105, 334), (66, 296), (107, 336), (130, 359), (247, 467),
    (30, 260), (29, 259), (27, 257), (28, 258), (56, 286), (190, 414), (243, 463), (112, 341),
    (26, 256), (22, 252), (23, 253), (24, 254), (110, 339), (25, 255), (61, 291), (185, 409),
    (40, 270), (39, 269), (37, 267), (146, 375), (91, 321), (181, 405), (84, 314), (240, 460),
    (75, 305), (60, 290), (99, 328), (141, 370), (242, 462), (20, 250), (79, 309), (238, 458),
    (239, 459), (241, 461), (33, 263), (133, 362), (468, 473), (469, 474), (471, 476),
)
# fmt: on
_MIRROR = {a: b for a, b in _PAIRS} | {b: a for a, b in _PAIRS}


def _mirror(idx: list[int]) -> list[int]:
    """The same polygon on the patient's other side (centre-line points map to themselves)."""
    return [_MIRROR.get(i, i) for i in idx]


def _symmetric(right_half: list[int], centre_top: list[int], centre_bottom: list[int]) -> list[int]:
    """A centred polygon: top centre points, the patient's left half, bottom, right half back up.

    ``right_half`` runs from top to bottom on the patient's right (image left) side.
    """
    return centre_top + _mirror(right_half) + centre_bottom + right_half[::-1]


# Polygons, as landmark index lists, drawn for the patient's right side where one-sided.
# fmt: off
_PERIORBITAL_R = [46, 53, 52, 65, 55, 193, 245, 188, 128, 121, 120, 119, 118, 117, 111, 143, 156]
_CHEEK_R = [117, 118, 119, 120, 121, 128, 188, 174, 217, 126, 209, 49, 48, 64, 203, 206, 216, 212, 214, 138,
            215, 177, 137, 227, 34, 143, 111]
_POLYGONS: dict[str, list[int]] = {
    "forehead": [70, 71, 68, 54, 103, 67, 109, 10, 338, 297, 332, 284, 298, 301, 300, 293, 334, 296, 336, 9,
                 107, 66, 105, 63],
    "glabella": [107, 9, 336, 285, 417, 168, 193, 55],
    "periorbital_right": _PERIORBITAL_R,
    "periorbital_left": _mirror(_PERIORBITAL_R),
    "cheek_right": _CHEEK_R,
    "cheek_left": _mirror(_CHEEK_R),
    "nose": _symmetric([193, 245, 188, 174, 217, 126, 209, 49, 48, 64, 98, 97], [168], [2]),
    "perioral": _symmetric([97, 98, 64, 203, 206, 216, 212, 202, 210, 204, 194, 201], [2], [200]),
    "chin": _symmetric([201, 194, 204, 210, 169, 150, 149, 176, 148], [200], [152]),
}
_EYE_R = [130, 247, 30, 29, 27, 28, 56, 190, 243, 112, 26, 22, 23, 24, 110, 25]
_BROW_R = [70, 63, 105, 66, 107, 55, 65, 52, 53, 46]
_LIPS = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
_NOSTRIL_R = [98, 240, 75, 60, 99, 97, 2, 94, 141, 242, 20, 79, 238, 239, 241, 64]
_EXCLUSION_POLYS: dict[str, list[list[int]]] = {
    "eyes": [_EYE_R, _mirror(_EYE_R)],
    "brows": [_BROW_R, _mirror(_BROW_R)],
    "lips": [_LIPS],
    "nostrils": [_NOSTRIL_R, _mirror(_NOSTRIL_R)],
}
# fmt: on
_CONVEX = {"nostrils"}  # landmark sets whose hull (not ring order) is the area


@dataclass
class FaceLandmarks:
    """MediaPipe face-mesh landmarks in full-resolution pixel coordinates.

    Attributes
    ----------
    points : ndarray
        (478, 3) float64: x, y in pixels of the full image, z (depth, same pixel scale,
        smaller = nearer the camera).
    image_shape : tuple of int
        (height, width) of the image the points refer to.
    """

    points: np.ndarray
    image_shape: tuple[int, int]

    def bbox(self, margin: float = 0.08) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) around the mesh, grown by ``margin`` of its size, clipped to the image."""
        xy = self.points[:, :2]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        pad = (hi - lo) * margin
        h, w = self.image_shape
        x0, y0 = np.floor(lo - pad).astype(int)
        x1, y1 = np.ceil(hi + pad).astype(int)
        return max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)

    def transformed(self, matrix: np.ndarray, image_shape: tuple[int, int]) -> FaceLandmarks:
        """The landmarks moved by a 2x3 affine ``matrix`` (x, y only)."""
        xy = self.points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
        return FaceLandmarks(np.column_stack([xy, self.points[:, 2]]), image_shape)


_LOCAL = threading.local()


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while MediaPipe starts: its C++ start-up logs are noise to users."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:  # noqa: PTH123 - a raw descriptor is needed
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _face_mesh():
    """The thread's FaceMesh, created once (its start-up logs silenced: fd 2 is process-wide)."""
    mesh = getattr(_LOCAL, "mesh", None)
    if mesh is None:
        with _quiet_native_stderr():
            from mediapipe.python.solutions import face_mesh

            mesh = face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5
            )
        _LOCAL.mesh = mesh
        _LOCAL.logged_once = False
    return mesh


def detect_face(
    rgb: np.ndarray, *, max_side: int = 800, preview: Preview | None = None
) -> FaceLandmarks | None:
    """Find the face and its 478 landmarks.

    Parameters
    ----------
    rgb : ndarray
        (H, W, 3) sRGB, uint8 or uint16.
    max_side : int
        The mesh runs on a copy whose longest side is at most this (padded to a square);
        MediaPipe works on 192 px face crops internally, so larger copies gain nothing.
    preview : Preview, optional
        A downscaled copy already made (``max_side`` is then ignored).

    Returns
    -------
    FaceLandmarks or None
        None when no face is found.
    """
    h, w = rgb.shape[:2]
    pv = preview if preview is not None else make_preview(rgb, max_side)
    small, f = pv.rgb, pv.scale
    sh, sw = small.shape[:2]
    side = max(sh, sw)
    square = np.zeros((side, side, 3), np.uint8)
    square[:sh, :sw] = small
    mesh = _face_mesh()
    if _LOCAL.logged_once:
        result = mesh.process(square)
    else:  # the first landmarking logs once more
        with _quiet_native_stderr():
            result = mesh.process(square)
        _LOCAL.logged_once = bool(result.multi_face_landmarks)
    if not result.multi_face_landmarks:
        return None
    lm = result.multi_face_landmarks[0].landmark
    pts = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float64) * (side / f)
    return FaceLandmarks(pts, (h, w))


def head_pose(lm: FaceLandmarks) -> dict[str, float]:
    """Head pose in degrees from the mesh's 3-D landmarks.

    A face frame is built from the outer eye corners (x axis, patient's right to left) and
    forehead-to-chin (y axis); angles are relative to the camera. ``yaw`` > 0: head turned
    towards the patient's left; ``pitch`` > 0: chin raised; ``roll`` > 0: head tilted
    towards the patient's left shoulder (clockwise in the image). Values are for comparing
    photos and for quality checks; the absolute pitch carries a small bias of the mesh.
    """
    p = lm.points
    x = p[263] - p[33]
    y = p[152] - p[10]
    x /= np.linalg.norm(x)
    y -= x * np.dot(x, y)
    y /= np.linalg.norm(y)
    yaw = np.degrees(np.arctan2(x[2], np.hypot(x[0], x[1])))
    pitch = np.degrees(np.arctan2(-y[2], y[1]))
    roll = np.degrees(np.arctan2(x[1], x[0]))
    return {"yaw": float(yaw), "pitch": float(pitch), "roll": float(roll)}


def iris_mm_per_px(lm: FaceLandmarks) -> float | None:
    """Millimetres per pixel from the horizontal iris diameters (11.7 mm), or None if implausible."""
    p = lm.points
    diam = [np.linalg.norm(p[469, :2] - p[471, :2]), np.linalg.norm(p[474, :2] - p[476, :2])]
    d = float(np.mean(diam))
    if not np.isfinite(d) or d < 4:
        return None
    return IRIS_DIAMETER_MM / d


def region_polygons(lm: FaceLandmarks) -> dict[str, np.ndarray]:
    """Region outlines as (N, 2) float pixel coordinates, keyed by the spec's region names."""
    return {name: lm.points[idx, :2].copy() for name, idx in _POLYGONS.items()}


def region_labels(
    lm: FaceLandmarks, shape: tuple[int, int], *, offset: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Region label image: 0 outside, ``i + 1`` inside ``REGIONS[i]``; uint8 of ``shape``.

    Neighbouring regions share outline points; pixels on a shared edge go to the region
    listed first in ``REGIONS``.
    """
    labels = np.zeros(shape, np.uint8)
    polys = region_polygons(lm)
    for i in range(len(REGIONS) - 1, -1, -1):  # drawn last = listed first wins
        pts = np.round((polys[REGIONS[i]] - offset) * 16).astype(np.int32)
        cv2.fillPoly(labels, [pts], i + 1, lineType=cv2.LINE_8, shift=4)
    return labels


def region_masks(
    lm: FaceLandmarks, shape: tuple[int, int], *, offset: tuple[int, int] = (0, 0)
) -> dict[str, np.ndarray]:
    """Boolean region masks (before exclusions) for an image or crop.

    Parameters
    ----------
    lm : FaceLandmarks
        The landmarks, in full-image pixels.
    shape : tuple of int
        (height, width) of the array the masks are for.
    offset : tuple of int
        (x0, y0) of that array in the full image (for a crop).

    Returns
    -------
    dict of str to ndarray
        One mask per region in ``REGIONS``. Neighbouring regions share outline points, so
        pixels on a shared edge are given to the region listed first.
    """
    labels = region_labels(lm, shape, offset=offset)
    return {name: labels == i + 1 for i, name in enumerate(REGIONS)}


def draw_exclusions(
    lm: FaceLandmarks,
    canvas: np.ndarray,
    *,
    offset: tuple[int, int] = (0, 0),
    grow_px: int | None = None,
    names: tuple[str, ...] = EXCLUSIONS,
) -> np.ndarray:
    """Paint eyes (with lashes), brows, lips and nostrils as 1 into a uint8 ``canvas``.

    The outlines are grown by ``grow_px`` (default 2 % of the inter-ocular distance) to cover
    the features' edges: the polygon is filled and its outline drawn ``2 * grow_px`` wide.
    """
    p = lm.points[:, :2]
    if grow_px is None:
        grow_px = max(1, round(0.02 * float(np.linalg.norm(p[33] - p[263]))))
    for name in names:
        pts = [p[idx] for idx in _EXCLUSION_POLYS[name]]
        if name in _CONVEX:
            pts = [cv2.convexHull(q.astype(np.float32)).reshape(-1, 2).astype(np.float64) for q in pts]
        fixed = [np.round((q - offset) * 16).astype(np.int32) for q in pts]
        cv2.fillPoly(canvas, fixed, 1, lineType=cv2.LINE_8, shift=4)
        cv2.polylines(canvas, fixed, True, 1, thickness=2 * grow_px, lineType=cv2.LINE_8, shift=4)
    return canvas


def exclusion_masks(
    lm: FaceLandmarks, shape: tuple[int, int], *, offset: tuple[int, int] = (0, 0), grow_px: int | None = None
) -> dict[str, np.ndarray]:
    """Masks of eyes (with lashes), brows, lips and nostrils, grown slightly to cover their edges.

    See :func:`draw_exclusions`.
    """
    out = {}
    for name in EXCLUSIONS:
        canvas = np.zeros(shape, np.uint8)
        out[name] = draw_exclusions(lm, canvas, offset=offset, grow_px=grow_px, names=(name,)).view(bool)
    return out
