"""skinlab: calibrated, per-region skin metrics from standardized photos.

A Django-free engine of pure functions on NumPy arrays, implementing
``shared/specs/skin-metrics.md``. Bump ``ENGINE_VERSION`` whenever a result can change.
"""

ENGINE_VERSION = "1.0.0"
