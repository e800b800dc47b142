"""How strongly a JPEG was compressed: its IJG quality, estimated from the quantisation tables.

Encoders built on the Independent JPEG Group's library (libjpeg, libjpeg-turbo, mozjpeg, Pillow,
OpenCV, most cameras' and phones' software) scale the example tables of the JPEG standard (ITU-T
T.81, Annex K) by the quality setting ``q`` (1 to 100)::

    scale = 5000 / q          if q < 50
          = 200 - 2 q         otherwise
    table = clamp((base · scale + 50) // 100, 1, 255)

:func:`quality_from_tables` inverts this on the luminance table (table 0): the quality whose
scaled table is nearest (sum of absolute differences) to the file's. A file written by such an
encoder gives its exact setting back; one with tables of its own (some cameras) gives the IJG
quality of the nearest compression. Only Pillow is imported, not NumPy: the web app reads the
quality of an upload without loading the engine.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["IJG_LUMINANCE", "ijg_table", "jpeg_quality", "quality_from_tables"]

_SOI = b"\xff\xd8\xff"  # start of image and the first marker

#: The luminance quantisation table of ITU-T T.81 Annex K (Table K.1), natural (row) order, which
#: is the order Pillow's ``Image.quantization`` gives.
IJG_LUMINANCE: tuple[int, ...] = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


def ijg_table(quality: int, base: Sequence[int] = IJG_LUMINANCE) -> list[int]:
    """The table an IJG encoder writes for ``quality`` (1 to 100), baseline-clamped to 1..255."""
    q = min(100, max(1, int(quality)))
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return [min(255, max(1, (b * scale + 50) // 100)) for b in base]


def quality_from_tables(tables: Mapping[int, Sequence[int]]) -> int | None:
    """The IJG quality (1 to 100) whose luminance table is nearest to ``tables[0]``; None without
    a 64-entry table 0. Ties go to the higher quality."""
    lum = tables.get(0)
    if lum is None or len(lum) != 64:
        return None
    actual = [int(v) for v in lum]
    best_q, best_err = 100, None
    for q in range(100, 0, -1):
        err = sum(abs(a - t) for a, t in zip(actual, ijg_table(q), strict=True))
        if best_err is None or err < best_err:
            best_q, best_err = q, err
    return best_q


def jpeg_quality(source: str | Path | bytes) -> int | None:
    """The estimated IJG quality of a JPEG file (path or bytes); None for any other format
    (PNG, TIFF, HEIC have no JPEG quality) and for a file that cannot be read."""
    fp: Path | io.BytesIO
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:3])
        fp = io.BytesIO(bytes(source))
    else:
        fp = Path(source)
        try:
            with fp.open("rb") as fh:
                head = fh.read(3)
        except OSError:
            return None
    if head != _SOI:
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(fp, formats=["JPEG"]) as im:  # the header only: the pixels are not decoded
            tables = getattr(im, "quantization", None)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return quality_from_tables(tables) if tables else None
