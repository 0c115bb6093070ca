"""The ``image_pipeline`` demo's data and results: which images to make, the reference
thumbnails, and what a mode's run gives back."""

from __future__ import annotations

import os
import random
from typing import Any

import attrs

# (how many at full size, the sizes they take in turn)
IMAGE_KINDS = (
    (50, ((320, 240), (240, 320))),  # small
    (80, ((1280, 720), (800, 1200))),  # medium
    (50, ((1920, 1080),)),  # full HD
    (20, ((3840, 2160),)),  # 4K
)


@attrs.define
class Images:
    """The demo's data: one spec ``{"id", "width", "height", "seed"}`` per image, and the
    reference thumbnails: made in the parent, one image after another, outside any mode,
    the first time a check asks for them, and kept for the other modes."""

    specs: list[dict[str, Any]]
    _reference: dict[int, tuple[int, int, str]] | None = None

    @property
    def megapixels(self) -> float:
        """The pixels of all the images, in millions."""
        return sum(pixels(spec) for spec in self.specs) / 1e6

    def reference(self) -> dict[int, tuple[int, int, str]]:
        """Each image's reference thumbnail: id -> (width, height, digest of its pixels)."""
        if self._reference is None:
            from slither_actors.examples import image_pipeline_work as work

            self._reference = {}
            for spec in self.specs:
                small = work.shrink(work.render_jpeg(spec["width"], spec["height"], spec["seed"]))
                fingerprint = work.digest(small.tobytes())
                self._reference[spec["id"]] = (small.width, small.height, fingerprint)
        return self._reference


def make_images(size: str) -> Images:
    """200 images at full size (a tenth of each kind at small), in a seeded order that mixes
    the kinds, each with a seed of its own."""
    scale = 1 if size == "full" else 10
    shapes = [
        sizes[number % len(sizes)]
        for count, sizes in IMAGE_KINDS
        for number in range(count // scale)
    ]
    random.Random(13).shuffle(shapes)
    return Images(
        [
            {"id": number, "width": width, "height": height, "seed": 1000 + number}
            for number, (width, height) in enumerate(shapes, start=1)
        ]
    )


def pixels(image: dict[str, Any]) -> int:
    """An image's weight for batching: its pixels."""
    return int(image["width"]) * int(image["height"])


@attrs.define
class Load:
    """Images in flight: now, and at the peak."""

    now: int = 0
    peak: int = 0


@attrs.define
class Outcome:
    """What a mode made: the thumbnails, the ids of the images that failed, its own tally
    of thumbnails as they came, the images in flight per stage, and what it measured
    (``threads``: the baseline's threads, None for slither_actors)."""

    thumbnails: list[dict[str, Any]]
    failed: list[int]
    tally: int
    loads: dict[str, Load]
    seconds: float
    parent_peak_rss_mb: float
    worker_peak_rss_mb: dict[str, float] = attrs.Factory(dict)
    threads: int | None = None


def process_rss_mb() -> float:
    """This process's resident memory now, in MiB (from /proc; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except OSError:
        return 0.0
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
