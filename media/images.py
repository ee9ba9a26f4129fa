"""Uploaded images, judged by their content: JPEG, PNG or WebP, at most MAX_PIXELS, decoded in
full (a damaged file fails here), turned upright by its EXIF orientation, converted to sRGB and
re-encoded without any metadata block. Re-encoding is what neutralises a polyglot: only the
pixels go on, never the bytes that came in. A preview at most PREVIEW_SIDE pixels on its
longer side, and a BlurHash, come from the same pixels.

`process` is synchronous and CPU-bound: ImagePool runs it in threads of its own, a bounded
number at a time. Pillow releases the GIL while it decodes, resizes and encodes, in blocks
(the encoder settings in `_encode` keep it so), and the event loop goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from blurhash._functions import ffi, lib  # blurhash-python's C encoder
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from core.errors import BadUserInput

log = logging.getLogger("chirp.images")
MAX_PIXELS = 40_000_000
PREVIEW_SIDE = 400
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
EXTENSIONS = {extension: content_type for content_type, extension in FORMATS.values()}
_BLURHASH_SIDE = 64
_QUALITY = 85
# Pillow's own check, on the size the header declares, before anything is decoded: past twice
# this it refuses (DecompressionBombError), past it it warns; MAX_PIXELS is checked below too
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True, slots=True)
class Encoded:
    data: bytes
    key: str  # content-addressed: the hash of the bytes, and the extension of the format

    @classmethod
    def of(cls, data: bytes, extension: str) -> Encoded:
        return cls(data, f"{hashlib.sha256(data).hexdigest()}.{extension}")


@dataclass(frozen=True, slots=True)
class Processed:
    original: Encoded
    preview: Encoded
    width: int
    height: int
    content_type: str
    blurhash: str


def process(source: IO[bytes]) -> Processed:
    """The image re-encoded, its preview and BlurHash; BAD_USER_INPUT for anything that is not
    a whole JPEG, PNG or WebP of at most MAX_PIXELS."""
    try:
        return _process(source)
    except BadUserInput:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,  # raised when warnings are errors (the tests)
    ) as error:
        raise BadUserInput(_refusal(error)) from None
    except Exception:  # noqa: BLE001 - a hostile file can break any part of a decoder
        log.info("an image refused as damaged", exc_info=True)
        raise BadUserInput("The image is damaged or incomplete.") from None


def _refusal(error: Exception) -> str:
    if isinstance(error, UnidentifiedImageError):
        return "The file is not a JPEG, PNG or WebP image."
    return f"The image has more than {MAX_PIXELS:,} pixels."


def _process(source: IO[bytes]) -> Processed:
    with Image.open(source, formats=list(FORMATS)) as opened:
        width, height = opened.size
        if width * height > MAX_PIXELS:
            raise BadUserInput(f"The image has more than {MAX_PIXELS:,} pixels.")
        format_name = opened.format or ""
        opened.verify()  # chunk checksums (PNG); the decoding below finds the rest
    source.seek(0)
    with Image.open(source, formats=[format_name]) as image:
        image.load()
        upright = ImageOps.exif_transpose(image)
    pixels = _srgb(upright)
    content_type, extension = FORMATS[format_name]
    original = Encoded.of(_encode(pixels, format_name), extension)
    preview = pixels.copy()
    preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    small = preview.copy()
    small.thumbnail((_BLURHASH_SIDE, _BLURHASH_SIDE))
    return Processed(
        original=original,
        preview=Encoded.of(_encode(preview, format_name), extension),
        width=pixels.width,
        height=pixels.height,
        content_type=content_type,
        blurhash=_blurhash(small.convert("RGB")),
    )


def _blurhash(image: Image.Image, x_components: int = 4, y_components: int = 3) -> str:
    """blurhash-python's encoder on the RGB bytes themselves: its `encode` reads them through
    Image.getdata, deprecated in Pillow 13, one Python int at a time."""
    pixels = ffi.from_buffer("uint8_t[]", image.tobytes())
    out = ffi.new("char[]", 2 + 4 + (9 * 9 - 1) * 2 + 1)
    made = lib.create_hash_from_pixels(
        x_components, y_components, image.width, image.height, pixels, image.width * 3, out
    )
    if made == ffi.NULL:
        raise ValueError("no BlurHash")
    return str(ffi.string(out).decode())


def _srgb(image: Image.Image) -> Image.Image:
    """The pixels alone, in sRGB (colours described by an ICC profile are converted, not
    lost), in a mode every format writes; no info carried over."""
    transparent = "A" in image.getbands() or "transparency" in image.info
    mode = "RGBA" if transparent else ("L" if image.mode in ("L", "1", "I;16", "I") else "RGB")
    icc = image.info.get("icc_profile")
    if image.mode in ("I;16", "I"):  # 16-bit grey: 8 bits are what every format writes
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    pixels = image.convert(mode) if image.mode != mode else image.copy()
    if icc and mode != "L":
        try:
            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(pixels, source_profile, _SRGB, outputMode=mode)
            pixels = converted or pixels
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile: the pixels as they are
    pixels.info = {}
    return pixels


def _encode(image: Image.Image, format_name: str) -> bytes:
    """Settings chosen for the event loop as much as for size: libjpeg's `optimize` and
    `progressive` passes, and WebP's slower methods, hold the GIL for the whole image (150 ms
    and more for 12 megapixels, every other request waiting); plain JPEG encodes in blocks."""
    out = io.BytesIO()
    if format_name == "JPEG":
        flat = image.convert("RGB") if image.mode not in ("RGB", "L") else image
        flat.save(out, "JPEG", quality=_QUALITY, exif=b"")
    elif format_name == "PNG":
        image.save(out, "PNG", compress_level=3)
    else:
        image.save(out, "WEBP", quality=_QUALITY, method=2, exif=b"", icc_profile=b"")
    return out.getvalue()


class ImagePool:
    """At most `threads` images processed at once in this process; the uploads beyond wait
    their turn without holding a thread, and the event loop never runs Pillow."""

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="images")
        self._turns = asyncio.Semaphore(threads)

    async def process(self, source: IO[bytes]) -> Processed:
        async with self._turns:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, process, source)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
