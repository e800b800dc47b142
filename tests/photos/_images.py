"""Photos for analysis tests: phantom close-ups of known skin, encoded as an upload would be."""

from __future__ import annotations

import io

from PIL import Image

from exoderm.skinlab.phantom import make_phantom

MM_PER_PX = 0.05


def phantom_png(seed: int = 0, *, side: int = 480, **design) -> bytes:
    phantom = make_phantom(shape=(side, side * 4 // 3), mm_per_px=MM_PER_PX, seed=seed, **design)
    out = io.BytesIO()
    Image.fromarray(phantom.rgb).save(out, "PNG")
    return out.getvalue()


def phantom_jpeg(seed: int = 0, *, quality: int, side: int = 480, **design) -> bytes:
    """The close-up of :func:`phantom_png` saved as a JPEG of ``quality`` (as a camera would)."""
    phantom = make_phantom(shape=(side, side * 4 // 3), mm_per_px=MM_PER_PX, seed=seed, **design)
    out = io.BytesIO()
    Image.fromarray(phantom.rgb).save(out, "JPEG", quality=quality)
    return out.getvalue()
