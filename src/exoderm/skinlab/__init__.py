"""skinlab: calibrated, per-region skin metrics from standardized photos.

A Django-free engine of pure functions on NumPy arrays, implementing
``shared/specs/skin-metrics.md``. Bump ``ENGINE_VERSION`` whenever a result can change.

Public API: :func:`analyze` (one photo → :class:`Analysis`, ``.to_dict()`` is the spec's JSON
record), :func:`compare` (baseline and follow-up → :class:`Comparison`), :func:`load_image`,
the overlays :func:`region_overlay` and :func:`difference_overlay`, :class:`SkinlabError`
(every bad-input error) and :func:`keep_freed_memory` (allocator settings for a process that
analyses photo after photo). The metrics themselves live in :mod:`exoderm.skinlab.metrics`.

The names are loaded on first use, so that ``from exoderm.skinlab import ENGINE_VERSION``
(the web app's only need at start-up) does not import NumPy, OpenCV and MediaPipe. One
caveat: ``compare`` is also the name of a submodule; code that imports
``exoderm.skinlab.compare`` directly should take the function from there too
(``from exoderm.skinlab.compare import compare``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

ENGINE_VERSION = "1.5.0"

_EXPORTS = {
    "Analysis": "pipeline",
    "analyze": "pipeline",
    "Comparison": "compare",
    "compare": "compare",
    "ImageLoadError": "io",
    "LoadedImage": "io",
    "SkinlabError": "io",
    "load_image": "io",
    "keep_freed_memory": "memory",
    "difference_overlay": "overlay",
    "region_overlay": "overlay",
    "save_png": "overlay",
}

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
    "keep_freed_memory",
    "load_image",
    "region_overlay",
    "save_png",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .compare import Comparison, compare
    from .io import ImageLoadError, LoadedImage, SkinlabError, load_image
    from .memory import keep_freed_memory
    from .overlay import difference_overlay, region_overlay, save_png
    from .pipeline import Analysis, analyze


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # also replaces the submodule that importing ``compare`` bound here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
