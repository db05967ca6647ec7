"""Safe decoding of arbitrary photo files to 8-bit RGB, and lossless encoding of results.

Conversions (recorded per image so users can see what happened to their files):
- grayscale, 1-bit and palette images are expanded to RGB;
- an alpha channel is composited onto white, as image viewers display it;
- 16-bit images are scaled to 8 bits with rounding (v * 255 / 65535);
- CMYK, YCbCr and Lab are converted to RGB without colour management;
- the EXIF orientation is applied, so crops match what a viewer shows;
- of a multi-frame file (animated GIF/WebP, multi-page TIFF) only the first frame is used.
32-bit float images are rejected rather than guessed at.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

class ImageRejected(ValueError):
    """The file cannot be used as an input photo; the message says why."""


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # H x W x 3 uint8, C-contiguous
    format: str
    source_mode: str
    conversion: str | None


def _pillow_limit(max_pixels: int) -> None:
    # Pillow raises its own DecompressionBombError at twice MAX_IMAGE_PIXELS before we can read
    # the size; raise its limit to ours so that our check, with our message, is the one that fires.
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels


def probe_size(data: bytes, max_pixels: int) -> tuple[int, int, str, str]:
    """(width, height, format, mode) from the header only, raising ImageRejected if unusable."""
    _pillow_limit(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                fmt, mode = img.format or "?", img.mode
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise ImageRejected("not an image: the file's content is not a recognised image format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"corrupt image header: {exc}") from None
    if w * h > max_pixels:
        raise ImageRejected(f"decompression bomb: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
    return w, h, fmt, mode


def decode_image(data: bytes, max_pixels: int) -> DecodedImage:
    probe_size(data, max_pixels)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            fmt, source_mode = img.format or "?", img.mode
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                notes.append(f"first of {frames} frames")
            img.load()
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            if _is_16bit_color(img, data):
                notes.append("16-bit scaled to 8-bit")
                if img.mode != "RGB":
                    notes.append("alpha composited onto white")
                rgb = _orient(_decode_16bit_color(data, img), orientation)
            else:
                rgb = _to_rgb8(ImageOps.exif_transpose(img), notes)
    except ImageRejected:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageRejected(f"corrupt or truncated image data: {exc}") from None
    if orientation != 1:
        notes.append("EXIF orientation applied")
    return DecodedImage(np.ascontiguousarray(rgb), fmt, source_mode, "; ".join(notes) or None)


_EXIF_ORIENTATION = 0x0112


def _orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation on an array, for the 16-bit path that bypasses Pillow's exif_transpose."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    return ops.get(orientation, lambda a: a)(rgb)


def _to_rgb8(img: Image.Image, notes: list[str]) -> np.ndarray:
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img)
    if mode == "F":
        raise ImageRejected("32-bit float images are not supported; save the photo as 8- or 16-bit")
    if mode.startswith("I"):
        notes.append("16-bit grayscale scaled to 8-bit")
        values = np.asarray(img).astype(np.float64)
        if mode == "I" and values.max(initial=0) > 65535:
            raise ImageRejected("32-bit integer images are not supported; save the photo as 8- or 16-bit")
        gray = np.clip(np.rint(values * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        notes.append("alpha composited onto white")
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode in {"L", "1"}:
        notes.append("grayscale expanded to RGB")
    elif mode == "P":
        notes.append("palette expanded to RGB")
    else:
        notes.append(f"{mode} converted to RGB")
    return np.asarray(img.convert("RGB"))


def _is_16bit_color(img: Image.Image, data: bytes) -> bool:
    """16-bit colour PNG or TIFF, which Pillow would silently cut to their high bytes."""
    if img.mode not in {"RGB", "RGBA", "LA"}:
        return False
    if img.format == "PNG":
        # IHDR: bit depth at byte 24, colour type at byte 25 (2 RGB, 4 gray+alpha, 6 RGBA)
        return len(data) > 25 and data[24] == 16 and data[25] in (2, 4, 6)
    if img.format == "TIFF":
        bits = getattr(img, "tag_v2", {}).get(258, ())
        return any(b == 16 for b in (bits if isinstance(bits, tuple) else (bits,)))
    return False


def _decode_16bit_color(data: bytes, img: Image.Image) -> np.ndarray:
    # Pillow keeps only the high byte of 16-bit colour PNGs; OpenCV reads all 16 bits.
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        return np.asarray(img.convert("RGB"))
    rgb = cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB).astype(np.float64)
    out = np.clip(np.rint(rgb * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    if arr.shape[2] == 4:
        alpha = arr[..., 3:4].astype(np.float64) / 65535.0
        out = np.clip(np.rint(out * alpha + 255.0 * (1.0 - alpha)), 0, 255).astype(np.uint8)
    return out


def encode_png(rgb: np.ndarray, compression: int = 3) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise ImageRejected("not a decodable PNG")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """8-bit grayscale with OpenCV's BT.601 weights, as the reference computes it."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
