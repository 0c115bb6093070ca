"""What the ``image_pipeline`` demo does to images: draw one from its seed and save it as a
JPEG file would hold it, shrink that to a thumbnail, and report a worker's peak memory.

Worker processes preload this module; the threaded baselines and the demo's reference
thumbnails call the same `render_jpeg` and `shrink` in the parent. An image travels as a
dict of plain values: its JPEG file as ``bytes``, a thumbnail's pixels as raw RGB
``bytes``.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import random
import resource
import sys
from typing import Any

from PIL import Image, ImageDraw

THUMBNAIL_WIDTH = 150
JPEG_QUALITY = 90
SHAPES = 12

_LINEAR = Image.linear_gradient("L")
_RADIAL = Image.radial_gradient("L")


def render_image(width: int, height: int, seed: int) -> Image.Image:
    """The RGB image of ``seed``: three turned 256-level gradients as its channels, blown
    up to ``width`` x ``height`` (each level is several pixels wide at these sizes, so
    nearest-neighbour loses nothing a smoother filter would keep), under a dozen coloured
    ellipses and rectangles. The same arguments give the same pixels in any process."""
    chance = random.Random(seed)
    channels = [
        gradient.rotate(chance.uniform(0, 360))
        for gradient in (_LINEAR, _RADIAL, _LINEAR.transpose(Image.Transpose.ROTATE_90))
    ]
    image = Image.merge("RGB", channels).resize((width, height), Image.Resampling.NEAREST)
    pen = ImageDraw.Draw(image)
    for _ in range(SHAPES):
        left, top = chance.randrange(width), chance.randrange(height)
        right = left + chance.randrange(1, width // 2 + 2)
        bottom = top + chance.randrange(1, height // 2 + 2)
        colour = (chance.randrange(256), chance.randrange(256), chance.randrange(256))
        shape = pen.ellipse if chance.random() < 0.5 else pen.rectangle
        shape((left, top, right, bottom), fill=colour)
    return image


def render_jpeg(width: int, height: int, seed: int) -> bytes:
    """The image of ``seed`` as a JPEG file's bytes (quality 90)."""
    file = io.BytesIO()
    render_image(width, height, seed).save(file, "JPEG", quality=JPEG_QUALITY)
    return file.getvalue()


def shrink(jpeg: bytes) -> Image.Image:
    """The thumbnail of a JPEG image: 150 pixels wide, as high as keeps the aspect ratio
    best, Lanczos-resampled. ``Image.thumbnail`` reads the JPEG at 1/2, 1/4 or 1/8 scale
    while it stays twice the thumbnail's size, reduces it to within twice that size with
    a box filter, then resizes it with Lanczos: four times cheaper for a 4K image than
    resampling every pixel, and on average within half a level of brightness of that."""
    image = Image.open(io.BytesIO(jpeg))
    tallest = math.ceil(THUMBNAIL_WIDTH * image.height / image.width)
    image.thumbnail((THUMBNAIL_WIDTH, tallest), Image.Resampling.LANCZOS)
    return image


def digest(pixels: bytes) -> str:
    """A short fingerprint of pixel bytes, to compare thumbnails made apart."""
    return hashlib.blake2b(pixels, digest_size=16).hexdigest()


def generate(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worker function: each spec ``{"width", "height", "seed"}`` drawn, as ``{"width",
    "height", "jpeg"}`` (the JPEG file's bytes)."""
    return [
        {
            "width": spec["width"],
            "height": spec["height"],
            "jpeg": render_jpeg(spec["width"], spec["height"], spec["seed"]),
        }
        for spec in specs
    ]


def thumbnail(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worker function: each generated image shrunk, as ``{"width", "height", "pixels"}``
    of its thumbnail (raw RGB bytes)."""
    thumbnails = []
    for image in images:
        small = shrink(image["jpeg"])
        thumbnails.append({"width": small.width, "height": small.height, "pixels": small.tobytes()})
    return thumbnails


def peak_memory(_: list[Any]) -> list[dict[str, Any]]:
    """Worker function (for a broadcast): this process's pid and peak resident memory in
    MiB since it started."""
    return [{"pid": os.getpid(), "peak_rss_mb": round(peak_rss_mb(), 1)}]


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far, in MiB.

    On Linux, from ``VmHWM`` in /proc: ``ru_maxrss`` survives exec, so a worker started by a
    parent that had grown to 150 MiB would report at least that, whatever it used itself.
    Elsewhere, ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
