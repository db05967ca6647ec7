"""Safe decoding to 8-bit RGB: conversions of every kind of input, and clear rejections."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from hggt.core.images import ImageRejected, decode_image, decode_png, encode_png
from hggt.core.ingest import inspect_image
from tests.photos import encode, png16, textured

LIMIT = 10_000_000


def test_rgb_png_round_trips_exactly():
    rgb = textured(40, 50)
    out = decode_image(encode(rgb, "PNG"), LIMIT)
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (40, 50, 3)
    assert np.array_equal(out.rgb, rgb) and out.conversion is None and out.format == "PNG"


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "WEBP"])
def test_lossless_formats_decode_exactly(fmt):
    rgb = textured(33, 47, seed=2)
    params = {"lossless": True} if fmt == "WEBP" else {}
    assert np.array_equal(decode_image(encode(rgb, fmt, **params), LIMIT).rgb, rgb)


def test_jpeg_decodes_close_to_the_source():
    rgb = textured(64, 64, seed=4)
    out = decode_image(encode(rgb, "JPEG", quality=100, subsampling=0), LIMIT)
    assert out.format == "JPEG" and np.abs(out.rgb.astype(int) - rgb).mean() < 2


def test_grayscale_is_replicated_to_three_channels():
    gray = textured(20, 30)[..., 0]
    out = decode_image(encode(Image.fromarray(gray, "L"), "PNG"), LIMIT)
    assert np.array_equal(out.rgb, np.repeat(gray[..., None], 3, axis=2))
    assert out.source_mode == "L" and "grayscale" in out.conversion


def test_alpha_is_composited_onto_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.array([0, 85, 170, 255], np.uint8)[None, :]
    out = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), LIMIT)
    alpha = rgba[0, :, 3] / 255.0
    expected_red = np.rint(200 * alpha + 255 * (1 - alpha))
    expected_green = np.rint(255 * (1 - alpha))
    assert np.abs(out.rgb[0, :, 0] - expected_red).max() <= 1
    assert np.abs(out.rgb[0, :, 1] - expected_green).max() <= 1
    assert "alpha composited onto white" in out.conversion


def test_palette_images_are_expanded():
    rgb = textured(16, 16)
    pal = Image.fromarray(rgb).quantize(colors=16)
    out = decode_image(encode(pal, "PNG"), LIMIT)
    assert np.array_equal(out.rgb, np.asarray(pal.convert("RGB"))) and out.source_mode == "P"


def test_cmyk_jpeg_is_converted():
    cmyk = Image.fromarray(textured(16, 16)).convert("CMYK")
    out = decode_image(encode(cmyk, "JPEG", quality=98), LIMIT)
    assert out.source_mode == "CMYK" and out.rgb.shape == (16, 16, 3) and "CMYK" in out.conversion


def test_16bit_gray_and_color_are_scaled_with_rounding():
    rng = np.random.default_rng(0)
    color = rng.integers(0, 65536, size=(8, 9, 3), dtype=np.uint16)
    gray = rng.integers(0, 65536, size=(8, 9), dtype=np.uint16)
    expected = np.rint(color / 257.0).astype(np.uint8)
    out = decode_image(png16(color), LIMIT)
    assert np.array_equal(out.rgb, expected) and "16-bit" in out.conversion
    out = decode_image(png16(gray), LIMIT)
    assert np.array_equal(out.rgb[..., 1], np.rint(gray / 257.0).astype(np.uint8))


def test_exif_orientation_is_applied():
    rgb = textured(10, 20)
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    out = decode_image(encode(img, "JPEG", quality=100, exif=exif.tobytes()), LIMIT)
    assert out.rgb.shape == (20, 10, 3) and "EXIF" in out.conversion


def _bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"this is a text file, not a photo\n" * 10, "not an image"),
        (bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), "not an image"),
        (encode(textured(64, 64), "PNG")[:400], "corrupt or truncated"),
        (encode(textured(128, 128), "JPEG", quality=90)[:1500], "corrupt or truncated"),
        (_bomb_png(60000, 60000), "decompression bomb"),
        (_bomb_png(4000, 3000), "decompression bomb"),
        (encode(Image.fromarray(np.ones((4, 4), np.float32), "F"), "TIFF"), "float"),
        (b"", "not an image"),
    ],
    ids=["text", "random-bytes", "truncated-png", "truncated-jpeg", "bomb-huge", "bomb-over-limit", "float32", "empty"],
)
def test_bad_inputs_are_rejected_with_a_reason(data, reason):
    with pytest.raises(ImageRejected, match=reason):
        decode_image(data, LIMIT)
    row = inspect_image(data, LIMIT, 16)
    assert row["status"] == "rejected" and reason in row["reason"]


def test_too_small_images_are_rejected_with_their_size():
    row = inspect_image(encode(textured(100, 90), "PNG"), LIMIT, 128)
    assert row["status"] == "rejected" and row["reason"] == "too small: 90x100 is below the 128x128 crop size"
    ok = inspect_image(encode(textured(128, 130), "PNG"), LIMIT, 128)
    assert ok["status"] == "ok" and (ok["width"], ok["height"]) == (130, 128)


def test_png_encoding_is_lossless_and_deterministic():
    rgb = textured(50, 60, seed=9)
    data = encode_png(rgb)
    assert data == encode_png(rgb.copy())
    assert np.array_equal(decode_png(data), rgb)


def test_16bit_color_tiff_keeps_all_bits():
    import cv2

    color = np.random.default_rng(1).integers(0, 65536, size=(6, 7, 3), dtype=np.uint16)
    ok, buf = cv2.imencode(".tiff", np.ascontiguousarray(color[..., ::-1]))
    out = decode_image(buf.tobytes(), LIMIT)
    assert np.array_equal(out.rgb, np.rint(color / 257.0).astype(np.uint8))
