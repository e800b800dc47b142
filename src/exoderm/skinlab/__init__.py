"""skinlab: calibrated, per-region skin metrics from standardized photos.

A Django-free engine of pure functions on NumPy arrays, implementing
``shared/specs/skin-metrics.md``. Bump ``ENGINE_VERSION`` whenever a result can change.

Public API: :func:`analyze` (one photo → :class:`Analysis`, ``.to_dict()`` is the spec's JSON
record), :func:`compare` (baseline and follow-up → :class:`Comparison`), :func:`load_image`,
the overlays :func:`region_overlay` and :func:`difference_overlay`, and :class:`SkinlabError`
(every bad-input error). The metrics themselves live in :mod:`exoderm.skinlab.metrics`.
"""

ENGINE_VERSION = "1.0.0"

from .compare import Comparison, compare  # noqa: E402
from .io import ImageLoadError, LoadedImage, SkinlabError, load_image  # noqa: E402
from .overlay import difference_overlay, region_overlay, save_png  # noqa: E402
from .pipeline import Analysis, analyze  # noqa: E402

__all__ = [
    "ENGINE_VERSION",
    "Analysis",
    "Comparison",
    "ImageLoadError",
    "LoadedImage",
    "SkinlabError",
    "analyze",
    "compare",
    "difference_overlay",
    "load_image",
    "region_overlay",
    "save_png",
]
