"""A hostile upload corpus, made here from scratch: every file a clinic must refuse or clean."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image, TiffImagePlugin

SCRIPT = "<script>alert('exif')</script>"
GPS_LAT = ((52, 1), (31, 1), (1234, 100))  # 52° 31' 12.34"


def pixels(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.empty((height, width, 3), np.uint8)
    base[..., 0] = np.linspace(150, 220, width, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(110, 160, height, dtype=np.uint8)[:, None]
    base[..., 2] = 100
    noise = rng.integers(-6, 7, size=base.shape)
    return Image.fromarray(np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8), "RGB")


def exif(
    *, orientation: int = 1, taken: str | None = "2026:03:14 09:26:53", gps: bool = True, text: str = SCRIPT
) -> Image.Exif:
    e = Image.Exif()
    e[0x010E] = text  # ImageDescription
    e[0x013B] = text  # Artist
    e[0x0112] = orientation
    sub = e.get_ifd(0x8769)
    if taken is not None:
        sub[0x9003] = taken
    sub[0x9286] = text  # UserComment
    if gps:
        g = e.get_ifd(0x8825)
        g[1] = "N"
        g[2] = tuple(TiffImagePlugin.IFDRational(a, b) for a, b in GPS_LAT)
        g[3] = "E"
        g[4] = tuple(TiffImagePlugin.IFDRational(a, b) for a, b in ((13, 1), (24, 1), (5678, 100)))
    return e


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kwargs)
    return out.getvalue()


def jpeg(*, seed: int = 0, size: tuple[int, int] = (320, 240), **exif_kwargs) -> bytes:
    return encode(
        pixels(*size, seed=seed), "JPEG", quality=90, exif=exif(**exif_kwargs), comment=SCRIPT.encode()
    )


def png(*, seed: int = 0) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", SCRIPT)
    info.add_text("XML:com.adobe.xmp", "<x:xmpmeta><GPSLatitude>52,31N</GPSLatitude></x:xmpmeta>", zip=True)
    return encode(pixels(seed=seed), "PNG", pnginfo=info, exif=exif())


def tiff(*, seed: int = 0) -> bytes:
    return encode(pixels(seed=seed), "TIFF", exif=exif(), compression="tiff_lzw")


def multipage_tiff() -> bytes:
    first, second = pixels(seed=1), pixels(seed=2)
    return encode(first, "TIFF", save_all=True, append_images=[second])


def heic(*, seed: int = 0) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return encode(pixels(seed=seed), "HEIF", quality=90, exif=exif(orientation=1))


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.sh", "#!/bin/sh\necho owned\n")
    return out.getvalue()


def polyglot_jpeg_zip() -> bytes:
    return jpeg(seed=3) + zip_archive()


def png_with_trailer() -> bytes:
    return png(seed=4) + b"<html><script>alert(1)</script></html>" + zip_archive()


def truncated_jpeg() -> bytes:
    data = jpeg(seed=5, size=(640, 480))
    return data[: len(data) // 2]


def truncated_png() -> bytes:
    data = png(seed=6)
    return data[: len(data) * 2 // 3]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int = 40_000) -> bytes:
    """A real pixel flood: ``side`` x ``side`` 1-bit pixels of zeros, a few hundred kilobytes deflated."""
    row = b"\x00" * (1 + (side + 7) // 8)
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def jpeg_bomb() -> bytes:
    """A small JPEG whose frame header claims 65000 x 65000 pixels."""
    data = bytearray(encode(pixels(), "JPEG"))
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", 65000, 65000)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker")


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def html() -> bytes:
    return b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def gif() -> bytes:
    return encode(pixels(), "GIF")


def webp() -> bytes:
    return encode(pixels(), "WEBP")


def tiny_jpeg() -> bytes:
    return encode(pixels(16, 16), "JPEG")


def jpeg_with_fake_heic_brand() -> bytes:
    """ftyp box announcing HEIC followed by JPEG bytes: must not decode as either."""
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + jpeg(seed=7)


REFUSED = {
    "png_bomb.png": png_bomb,
    "jpeg_bomb.jpg": jpeg_bomb,
    "truncated.jpg": truncated_jpeg,
    "truncated.png": truncated_png,
    "document.pdf.jpg": pdf,
    "vector.svg.jpg": svg,
    "page.html.jpg": html,
    "animation.gif": gif,
    "photo.webp": webp,
    "tiny.jpg": tiny_jpeg,
    "multipage.tif": multipage_tiff,
    "fake_heic.heic": jpeg_with_fake_heic_brand,
    "empty.jpg": lambda: b"",
    "archive.zip.jpg": zip_archive,
}

#: Accepted, and cleaned: (maker, stored format)
ACCEPTED = {
    "exif_gps_script.jpg": (jpeg, "jpeg"),
    "text_chunks.png": (png, "png"),
    "tiff_renamed.jpg": (tiff, "png"),
    "gps.heic": (heic, "jpeg"),
    "polyglot_zip.jpg": (polyglot_jpeg_zip, "jpeg"),
    "png_trailer.png": (png_with_trailer, "png"),
}
