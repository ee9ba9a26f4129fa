"""media/images.py: what an upload becomes (upright, re-encoded, no metadata, a preview and a
BlurHash), and every kind of file it refuses, with no database involved."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import threading

import pytest
from PIL import Image

from core.errors import BadUserInput
from media import images
from media.images import ImagePool, Processed, process
from tests import images as build


def processed(data: bytes) -> Processed:
    return process(io.BytesIO(data))


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def refused(data: bytes) -> str:
    with pytest.raises(BadUserInput) as refusal:
        processed(data)
    return refusal.value.message


@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [
        (build.jpeg(), "image/jpeg", "jpg"),
        (build.png(), "image/png", "png"),
        (build.webp(), "image/webp", "webp"),
    ],
)
def test_jpeg_png_and_webp_are_re_encoded_in_their_format(
    data: bytes, content_type: str, extension: str
) -> None:
    result = processed(data)
    assert (result.content_type, result.width, result.height) == (content_type, 64, 48)
    assert result.original.key.endswith(f".{extension}")
    assert opened(result.original.data).format == extension.upper().replace("JPG", "JPEG")
    assert opened(result.original.data).convert("RGB").getpixel((2, 2)) == pytest.approx(
        (255, 0, 0), abs=8
    )


def test_the_exif_orientation_is_applied_and_every_metadata_block_removed() -> None:
    source = build.with_metadata(orientation=6)
    assert build.SECRET in source and b"Exif" in source  # the source carries them all
    result = processed(source)
    assert (result.width, result.height) == (40, 60)  # turned upright: 60x40 stored sideways
    upright = opened(result.original.data).convert("RGB")
    red, blue = upright.getpixel((20, 5)), upright.getpixel((20, 55))
    assert isinstance(red, tuple) and isinstance(blue, tuple)
    assert red[0] > 200 and red[2] < 60  # the left half (red) is on top now
    assert blue[2] > 200 and blue[0] < 60
    for data in (result.original.data, result.preview.data):
        image = opened(data)
        assert not image.getexif()
        assert not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(image.info)
        assert build.SECRET not in data
        assert b"Exif" not in data and b"http://ns.adobe.com/xap" not in data


def test_a_polyglot_is_only_an_image_once_re_encoded() -> None:
    source = build.polyglot_png()
    assert source.count(b"<script>") == 2
    result = processed(source)
    assert b"script" not in result.original.data and b"html" not in result.original.data
    image = opened(result.original.data)
    assert image.format == "PNG" and not image.info
    assert result.original.data.endswith(b"IEND\xaeB`\x82")  # nothing after the image's end


def test_the_preview_is_at_most_400_pixels_on_its_longer_side() -> None:
    wide = processed(build.jpeg(1200, 800))
    assert opened(wide.preview.data).size == (400, 267)
    assert (wide.width, wide.height) == (1200, 800)
    tall = processed(build.png(300, 900))
    assert opened(tall.preview.data).size == (133, 400)
    small = processed(build.png(100, 50))
    assert opened(small.preview.data).size == (100, 50)  # never enlarged


def test_the_blurhash_describes_the_image() -> None:
    result = processed(build.jpeg())
    assert len(result.blurhash) == 28  # 4 x 3 components
    other = processed(build.encoded(Image.new("RGB", (64, 48), (0, 200, 0)), "PNG"))
    assert other.blurhash != result.blurhash


def test_keys_name_the_bytes() -> None:
    first, again = processed(build.png()), processed(build.png())
    assert first.original.key == again.original.key  # the same image: the same file
    digest = hashlib.sha256(first.original.data).hexdigest()
    assert first.original.key == f"{digest}.png"
    bigger = processed(build.png(800, 600))
    assert bigger.preview.key == f"{hashlib.sha256(bigger.preview.data).hexdigest()}.png"
    assert bigger.preview.key != bigger.original.key


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (build.declared_png(100_000, 100_000), "pixels"),  # past Pillow's own refusal
        (build.declared_png(7_000, 7_000), "pixels"),  # 49 million: past ours
        (build.jpeg(400, 300)[:700], "damaged"),  # truncated
        (build.png(400, 300)[:300], "damaged"),
        (build.corrupt_png(), "damaged"),
        (build.gif(), "not a JPEG"),
        (build.encoded(build.halves(), "BMP"), "not a JPEG"),
        (b"<html><script>alert(1)</script></html>", "not a JPEG"),
        (b"", "not a JPEG"),
    ],
    ids=[
        "bomb",
        "49-megapixels",
        "truncated-jpeg",
        "truncated-png",
        "corrupt",
        "gif",
        "bmp",
        "html",
        "empty",
    ],
)
def test_anything_else_is_refused(data: bytes, message: str) -> None:
    assert message in refused(data)


def test_damaged_bytes_anywhere_are_refused_never_an_error_of_another_kind() -> None:
    seeds = [build.with_metadata(), build.png(), build.webp(), build.polyglot_png()]
    rng = random.Random(20)
    refusals = 0
    for _ in range(400):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            processed(bytes(data))
        except BadUserInput:  # anything else fails the test: an upload's 500
            refusals += 1
    assert refusals > 40


def test_an_image_of_exactly_the_limit_is_not_refused_for_its_size() -> None:
    side = int(images.MAX_PIXELS**0.5)
    assert "pixels" not in refused(build.declared_png(side, side))  # refused: its data is short


async def test_the_pool_processes_off_the_event_loop_a_bounded_number_at_once() -> None:
    pool = ImagePool(2)
    threads: set[str] = set()
    busy, most = 0, 0
    lock = threading.Lock()
    real = images.process

    def counting(source: io.BytesIO) -> Processed:
        nonlocal busy, most
        with lock:
            busy += 1
            most = max(most, busy)
            threads.add(threading.current_thread().name)
        try:
            return real(source)
        finally:
            with lock:
                busy -= 1

    images.process = counting  # type: ignore[assignment]
    try:
        results = await asyncio.gather(
            *(pool.process(io.BytesIO(build.jpeg(800, 600))) for _ in range(6))
        )
    finally:
        images.process = real
        pool.close()
    assert len(results) == 6 and most <= 2
    assert threads and all(name.startswith("images") for name in threads)
