"""Which implementation of the engine's kernels runs: compiled or NumPy.

The kernels (one-pass loops where a chain of OpenCV calls would make one pass per call) exist
twice, with the same functions and the same results: compiled, :mod:`._kernels` (Cython and C,
built by ``uv sync``), and in NumPy, :mod:`._kernels_numpy` (several times slower). The engine
takes the active one at each call, ``kernels.active().valley_level(...)``:

* by default the compiled one; where it is not built (no C compiler, a copy of the sources
  without the build), the NumPy one, with a warning logged once;
* the environment variable ``EXODERM_SKINLAB_KERNELS`` = ``native`` or ``numpy`` forces one,
  read at the first use: ``native`` fails when the compiled module cannot be imported, any
  other value fails;
* :func:`use` switches for a block (the tests run one analysis with each);
  :func:`backend_name` says which one runs (benchmarks print it).

The choice is process-wide: one analysis at a time per backend switch, not one per thread.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

__all__ = ["BACKENDS", "ENV_VAR", "Kernels", "active", "backend_name", "use"]

logger = logging.getLogger(__name__)

#: The environment variable that forces a backend.
ENV_VAR = "EXODERM_SKINLAB_KERNELS"

#: Backend names and their modules.
BACKENDS = {"native": "._kernels", "numpy": "._kernels_numpy"}


class Kernels(Protocol):
    """What both kernel modules provide (documented in ``_kernels.pyx``)."""

    MAX_AREA_FACTOR: int

    def area_downscale(self, src: np.ndarray, k: int) -> np.ndarray: ...

    def valley_level(
        self,
        g: np.ndarray,
        window: tuple[int, int, int, int],
        sigma: float,
        edge_penalty: float,
        anisotropy: float,
    ) -> np.ndarray: ...

    def blob_level(self, g: np.ndarray, window: tuple[int, int, int, int], sigma: float) -> np.ndarray: ...

    def region_sums(
        self,
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

    def clipped_count(self, rgb: np.ndarray, mask: np.ndarray | None, full: int) -> tuple[int, int]: ...

    def background_maps(
        self,
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

    def srgb8_to_lab(
        self,
        rgb: np.ndarray,
        lut: np.ndarray,
        ccm: np.ndarray | None,
        to_xyz: np.ndarray,
        need: np.ndarray | None,
    ) -> np.ndarray: ...

    def max_upsampled(self, img: np.ndarray, grid: np.ndarray) -> None: ...

    def subtract_upsampled(self, img: np.ndarray, grid: np.ndarray) -> None: ...


if TYPE_CHECKING:  # both modules provide the protocol (mypy checks the assignment)
    from . import _kernels, _kernels_numpy

    _PROVIDED: tuple[Kernels, Kernels] = (_kernels, _kernels_numpy)

#: The active backend's name and module; None until the first use.
_active: tuple[str, Kernels] | None = None


def _load(name: str) -> Kernels:
    """The module of backend ``name``.

    Raises
    ------
    ValueError
        For a name that is not in :data:`BACKENDS`.
    ImportError
        For ``native`` when the compiled module cannot be imported.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown skinlab kernel backend {name!r}: expected one of {', '.join(BACKENDS)}")
    try:
        module: Kernels = importlib.import_module(BACKENDS[name], __package__)
    except ImportError as exc:
        if name != "native":
            raise
        raise ImportError(
            f"the compiled skinlab kernels cannot be imported ({exc}); build them with `uv sync`, "
            f"or set {ENV_VAR}=numpy"
        ) from exc
    return module


def _choose() -> tuple[str, Kernels]:
    """The backend that :data:`ENV_VAR` forces, else the compiled one if it imports, else NumPy."""
    forced = os.environ.get(ENV_VAR, "")
    if forced:
        if forced not in BACKENDS:
            raise ValueError(f"{ENV_VAR}={forced!r}: expected one of {', '.join(BACKENDS)} (or unset)")
        return forced, _load(forced)
    try:
        return "native", _load("native")
    except ImportError as exc:
        logger.warning(
            "the compiled skinlab kernels cannot be imported (%s): using the NumPy kernels (the same "
            "results, slower); `uv sync` builds the compiled ones",
            exc.__cause__ or exc,
        )
        return "numpy", _load("numpy")


def _current() -> tuple[str, Kernels]:
    global _active
    if _active is None:
        _active = _choose()
    return _active


def active() -> Kernels:
    """The kernel module to call now (chosen at the first call, see the module docstring)."""
    return _current()[1]


def backend_name() -> str:
    """``"native"`` or ``"numpy"``: the backend that :func:`active` returns."""
    return _current()[0]


@contextlib.contextmanager
def use(name: str) -> Iterator[Kernels]:
    """Run the block with backend ``name`` (``"native"`` or ``"numpy"``), then restore the one
    before (process-wide, see the module docstring).

    Raises
    ------
    ValueError, ImportError
        As :func:`_load`.
    """
    global _active
    before = _active
    _active = name, _load(name)
    try:
        yield _active[1]
    finally:
        _active = before
