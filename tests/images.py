"""Test images built with Pillow: ordinary ones, ones carrying metadata, and hostile ones."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageCms

SECRET = b"secret-4711"  # in every metadata block of `with_metadata`: it must not survive
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encoded(image: Image.Image, format_name: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format_name, **options)
    return out.getvalue()


def halves(width: int = 60, height: int = 40) -> Image.Image:
    """Left half red, right half blue: which way up it is shows."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width // 2, 0, width, height))
    return image


def jpeg(width: int = 64, height: int = 48) -> bytes:
    return encoded(halves(width, height), "JPEG", quality=90)


def png(width: int = 64, height: int = 48) -> bytes:
    return encoded(halves(width, height), "PNG")


def webp(width: int = 64, height: int = 48) -> bytes:
    return encoded(halves(width, height), "WEBP")


def with_metadata(orientation: int = 6) -> bytes:
    """A JPEG of `halves()` with an EXIF orientation (6: turn 90 degrees clockwise to show),
    a GPS position, a comment, XMP and an ICC profile, each holding SECRET."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010E] = SECRET.decode()  # ImageDescription
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    gps[3], gps[4] = "E", (13.0, 24.0, 18.0)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><d>' + SECRET + b"</d></x:xmpmeta>"
    return encoded(
        halves(),
        "JPEG",
        quality=95,
        exif=exif.tobytes(),
        comment=SECRET,
        xmp=xmp,
        icc_profile=profile + SECRET,
    )


def polyglot_png() -> bytes:
    """A PNG with a script in a text chunk and another after its end: an image and an HTML
    document at once."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "<script>alert('chunk')</script>")
    return encoded(halves(), "PNG", pnginfo=info) + b"<html><script>alert('tail')</script>"


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height, with almost nothing after it: a
    decompression bomb's shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def corrupt_png() -> bytes:
    """A PNG with bytes of its image data changed: its checksum no longer matches."""
    data = bytearray(png(200, 200))
    start = data.index(b"IDAT") + 20
    data[start : start + 16] = bytes(16)
    return bytes(data)


def gif() -> bytes:
    return encoded(halves(), "GIF")
