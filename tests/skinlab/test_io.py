"""Image loading: formats, orientation, ICC, bad input."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import simplejpeg
import tifffile
from PIL import Image, ImageOps

from exoderm.skinlab import io as skio
from exoderm.skinlab.io import ImageLoadError, SkinlabError, load_image


def _photo(h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth colour image with an asymmetric marker (red block top-left)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([80 + xx, 60 + yy // 2, 120 + 0 * xx], axis=-1).astype(np.uint8)
    img[4:20, 4:30] = (250, 10, 10)
    return img


def _jpeg(img: np.ndarray, *, orientation: int | None = None, quality: int = 95) -> bytes:
    im = Image.fromarray(img)
    buf = io.BytesIO()
    if orientation is None:
        im.save(buf, "JPEG", quality=quality)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def test_jpeg_fast_path_matches_pillow_decode(tmp_path):
    data = _jpeg(_photo())
    (tmp_path / "a.jpg").write_bytes(data)
    out = load_image(tmp_path / "a.jpg")
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (96, 128, 3)
    assert out.file == "a.jpg" and out.decoder == "libjpeg-turbo"
    ref = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert np.abs(out.rgb.astype(int) - ref).max() <= 2  # libjpeg-turbo vs Pillow's libjpeg


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_a_viewer(orientation):
    img = _photo()
    data = _jpeg(img, orientation=orientation)
    out = load_image(data)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert out.rgb.shape == expected.shape
    assert out.orientation == orientation
    assert np.abs(out.rgb.astype(int) - expected.astype(int)).mean() < 1.5
    if orientation in (5, 6, 7, 8):
        assert out.rgb.shape[:2] == (128, 96)


def test_png_8_and_16_bit(tmp_path):
    img8 = _photo()
    buf = io.BytesIO()
    Image.fromarray(img8).save(buf, "PNG")
    assert np.array_equal(load_image(buf.getvalue()).rgb, img8)

    import cv2

    img16 = img8.astype(np.uint16) * 257 + 3
    ok, enc = cv2.imencode(".png", img16[..., ::-1])
    assert ok
    out = load_image(enc.tobytes())
    assert out.rgb.dtype == np.uint16 and out.decoder == "opencv"
    assert np.array_equal(out.rgb, img16)


def test_tiff_16_bit_with_orientation(tmp_path):
    img16 = _photo().astype(np.uint16) * 256
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, img16, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    out = load_image(path)
    assert out.rgb.dtype == np.uint16 and out.decoder == "tifffile"
    assert np.array_equal(out.rgb, np.rot90(img16, k=-1))  # 6 = rotate 90° clockwise


def test_tiff_8_bit(tmp_path):
    img = _photo()
    tifffile.imwrite(tmp_path / "b.tiff", img, photometric="rgb")
    assert np.array_equal(load_image(tmp_path / "b.tiff").rgb, img)


def test_heic(tmp_path):
    img = _photo()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="HEIF", quality=95)
    out = load_image(buf.getvalue())
    assert out.rgb.shape == img.shape
    assert np.abs(out.rgb.astype(int) - img.astype(int)).mean() < 4


def test_whether_the_file_kept_every_pixel():
    from exoderm.skinlab.io import from_array

    img = _photo()

    def encoded(fmt: str, **params) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, fmt, **params)
        return buf.getvalue()

    def tiff(compression: str | None) -> bytes:
        buf = io.BytesIO()
        tifffile.imwrite(buf, img, photometric="rgb", compression=compression)
        return buf.getvalue()

    lossless = {
        "jpeg": load_image(_jpeg(img)).lossless,
        "heic": load_image(encoded("HEIF", quality=95)).lossless,
        "png": load_image(encoded("PNG")).lossless,
        "bmp": load_image(encoded("BMP")).lossless,
        "tiff": load_image(tiff(None)).lossless,
        "tiff deflate": load_image(tiff("zlib")).lossless,
        "pixels": from_array(img).lossless,
    }
    assert lossless == {
        "jpeg": False,
        "heic": False,
        "png": True,
        "bmp": True,
        "tiff": True,
        "tiff deflate": True,
        "pixels": None,
    }
    assert skio._tiff_lossless(tifffile.COMPRESSION.JPEG) is False
    assert skio._tiff_lossless(tifffile.COMPRESSION.WEBP) is False
    assert skio._tiff_lossless(tifffile.COMPRESSION.JPEG2000) is None  # may be either


def test_heic_orientation_applied_once():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise
    buf = io.BytesIO()
    Image.fromarray(_photo()).save(buf, format="HEIF", quality=95, exif=exif.tobytes())
    out = load_image(buf.getvalue())
    assert out.rgb.shape == (128, 96, 3)
    ys, xs = np.nonzero((out.rgb[..., 0] > 230) & (out.rgb[..., 1] < 40))
    assert ys.mean() < 40 and xs.mean() > 60  # the top-left marker went to the top right


def _linear_icc() -> bytes:
    """A minimal ICC v2 RGB profile: sRGB primaries, gamma 1.0 (linear) tone curves."""

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    text = b"gamma 1.0 test profile\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    curv = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, 0x0100) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"none"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def test_icc_profile_converted_to_srgb():
    img = np.full((80, 80, 3), 128, np.uint8)
    img[:, :40, 0] = 200
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG", icc_profile=_linear_icc())
    out = load_image(buf.getvalue())
    assert out.icc_converted
    # linear 128/255 = 0.502 is sRGB-encoded 0.735 -> 188
    assert abs(int(out.rgb[60, 60, 1]) - 188) <= 2
    # the same file without a profile is taken as sRGB
    buf2 = io.BytesIO()
    Image.fromarray(img).save(buf2, "PNG")
    plain = load_image(buf2.getvalue())
    assert not plain.icc_converted and plain.rgb[60, 60, 1] == 128


def test_truncated_jpeg_is_a_clear_error():
    data = _jpeg(_photo(300, 400))
    with pytest.raises(ImageLoadError, match=r"truncated|corrupt"):
        load_image(data[: len(data) // 2])


def test_truncated_png_is_a_clear_error():
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    with pytest.raises(ImageLoadError, match=r"truncated|corrupt"):
        load_image(data[: len(data) // 2])


def test_non_image_and_missing_and_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("this is not an image at all\n" * 10)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(tmp_path / "notes.txt")
    with pytest.raises(ImageLoadError, match="cannot read"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(b"")


def test_one_pixel_image_refused():
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 150, 120)).save(buf, "PNG")
    with pytest.raises(ImageLoadError, match="1x1"):
        load_image(buf.getvalue())


def test_greyscale_refused_in_every_form():
    grey = (np.arange(100 * 100) % 251).reshape(100, 100).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    with pytest.raises(ImageLoadError, match="greyscale"):
        load_image(buf.getvalue())
    with pytest.raises(ImageLoadError, match="greyscale"):
        load_image(simplejpeg.encode_jpeg(grey[..., None], colorspace="Gray"))
    rgb_grey = np.repeat(grey[..., None], 3, axis=2)
    buf = io.BytesIO()
    Image.fromarray(rgb_grey).save(buf, "PNG")
    with pytest.raises(ImageLoadError, match="greyscale"):
        load_image(buf.getvalue())


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size (a decompression bomb's shape)."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_decompression_bomb_is_a_clear_error():
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(_png_claiming(30000, 30000))
    assert issubclass(ImageLoadError, SkinlabError)


def test_bomb_limit_applies_to_the_jpeg_path(monkeypatch):
    monkeypatch.setattr(skio, "MAX_PIXELS", 5000)
    with pytest.raises(ImageLoadError, match="megapixels"):
        load_image(_jpeg(_photo()))


def test_preview_whole_factor():
    from exoderm.skinlab.io import make_preview

    rgb = np.random.default_rng(0).integers(0, 65535, (1003, 2410, 3), dtype=np.uint16)
    pv = make_preview(rgb, 800)
    assert pv.scale == 1 / 4 and pv.rgb.shape == (250, 602, 3) and pv.rgb.dtype == np.uint8
    block = rgb[4:8, 8:12].reshape(-1, 3).mean(axis=0) / 257
    assert np.abs(pv.rgb[1, 2].astype(float) - block).max() <= 1.5
    small = make_preview(rgb[:500, :700], 800)
    assert small.scale == 1.0 and small.rgb.shape == (500, 700, 3)
