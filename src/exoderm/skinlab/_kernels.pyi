"""Type stubs of the compiled kernels (``_kernels.pyx``)."""

import numpy as np

MAX_AREA_FACTOR: int

def area_downscale(src: np.ndarray, k: int) -> np.ndarray: ...
def valley_level(
    g: np.ndarray, window: tuple[int, int, int, int], sigma: float, edge_penalty: float, anisotropy: float
) -> np.ndarray: ...
def blob_level(g: np.ndarray, window: tuple[int, int, int, int], sigma: float) -> np.ndarray: ...
def region_sums(
    labels: np.ndarray,
    y0: int,
    x0: int,
    n_labels: int,
    L: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    lo: tuple[int, int, int] | None,
    n_bins: int,
    tone: np.ndarray | None,
    red: np.ndarray | None,
    a_excess: np.ndarray | None,
    texture: np.ndarray | None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def clipped_count(rgb: np.ndarray, mask: np.ndarray | None, full: int) -> tuple[int, int]: ...
def background_maps(
    L: np.ndarray,
    a: np.ndarray,
    skin: np.ndarray,
    grids: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    far: np.ndarray,
    red_da: float,
    spot_dl: float,
    group_dl: float,
    spot_da: float,
    level_floor: float,
    level_offset: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def max_upsampled(img: np.ndarray, grid: np.ndarray) -> None: ...
def subtract_upsampled(img: np.ndarray, grid: np.ndarray) -> None: ...
def srgb8_to_lab(
    rgb: np.ndarray, lut: np.ndarray, ccm: np.ndarray | None, to_xyz: np.ndarray, need: np.ndarray | None
) -> np.ndarray: ...
