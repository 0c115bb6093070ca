"""The image_pipeline demo: it runs and passes from the command line, and each of its checks
fails when the invariant it guards is broken."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from PIL import Image, ImageChops, ImageStat

from slither_actors.examples import image_pipeline_work as work
from slither_actors.examples._workload import SAFE, SLITHER
from slither_actors.examples.image_pipeline import (
    GENERATE,
    THUMBNAIL,
    WORKLOAD,
    stage_limits,
    threaded,
)
from slither_actors.examples.image_pipeline_data import (
    IMAGE_KINDS,
    Images,
    Load,
    Outcome,
    make_images,
)
from tests.demo_runs import small_run, verdicts

CHECKS = [
    "every image ends once",
    "thumbnails 150 wide, aspect kept",
    "thumbnails match the reference",
    "images in flight within the limit",
]


@pytest.fixture(scope="module")
def images() -> Images:
    """Six small and medium images: their reference thumbnails take milliseconds."""
    specs = [spec for spec in make_images("full").specs if spec["width"] * spec["height"] < 10**6]
    return Images(specs[:6])


@pytest.fixture
def outcome(images: Images) -> Outcome:
    """A correct outcome to break: the safe baseline's."""
    return threaded(images, 2, True)


def failed(images: Images, outcome: Outcome) -> list[str]:
    return [one.name for one in WORKLOAD.check(images, outcome) if not one.passed]


def with_thumbnail(outcome: Outcome, index: int, **changes: Any) -> Outcome:
    """``outcome`` with one thumbnail changed: the others stay right."""
    thumbnails = list(outcome.thumbnails)
    thumbnails[index] = {**thumbnails[index], **changes}
    return attrs.evolve(outcome, thumbnails=thumbnails)


async def test_the_demo_runs_from_the_command_line_and_every_check_passes() -> None:
    runs = await small_run("image_pipeline")
    for mode in (SLITHER, SAFE):
        assert verdicts(runs[mode]) == dict.fromkeys(CHECKS, True), mode
        assert runs[mode]["figures"]["megapixels"] == 34.9
    assert runs[SLITHER]["figures"]["worker_peak_rss_mb"].count("generate") == 2


def test_a_thumbnail_is_close_to_a_fair_lanczos_resize_of_its_image_and_far_from_others(
    images: Images,
) -> None:
    """Independent of `shrink`'s shortcuts (JPEG draft, box reduction): every pixel of the
    raw image resampled with Lanczos."""

    def difference(one: Image.Image, other: Image.Image) -> float:
        return sum(ImageStat.Stat(ImageChops.difference(one, other)).mean) / 3

    fair_thumbnails = []
    for spec in images.specs[:3]:
        small = work.shrink(work.render_jpeg(spec["width"], spec["height"], spec["seed"]))
        image = work.render_image(spec["width"], spec["height"], spec["seed"])
        fair = image.resize(small.size, Image.Resampling.LANCZOS)
        assert difference(small, fair) < 3
        fair_thumbnails.append((small, fair))
    (one, _), (_, other_fair) = fair_thumbnails[0], fair_thumbnails[1]
    assert difference(one, other_fair.resize(one.size)) > 30


def test_the_full_size_has_the_issues_images_in_a_seeded_order() -> None:
    specs = make_images("full").specs
    assert len(specs) == sum(count for count, _ in IMAGE_KINDS) == 200
    sizes = [(spec["width"], spec["height"]) for spec in specs]
    assert sizes.count((1920, 1080)) == 50 and sizes.count((3840, 2160)) == 20
    assert specs == make_images("full").specs
    assert len({spec["seed"] for spec in specs}) == 200


def test_the_correct_outcome_passes_every_check(images: Images, outcome: Outcome) -> None:
    assert [one.name for one in WORKLOAD.check(images, outcome)] == CHECKS
    assert failed(images, outcome) == []


def test_a_lost_or_doubled_thumbnail_or_a_wrong_tally_fails_the_accounting(
    images: Images, outcome: Outcome
) -> None:
    lost = attrs.evolve(outcome, thumbnails=outcome.thumbnails[1:], tally=outcome.tally - 1)
    doubled = attrs.evolve(
        outcome, thumbnails=[*outcome.thumbnails, outcome.thumbnails[0]], tally=outcome.tally + 1
    )
    also_failed = attrs.evolve(outcome, failed=[outcome.thumbnails[0]["id"]])
    miscounted = attrs.evolve(outcome, tally=outcome.tally - 1)  # a lost += in a thread
    for broken in (lost, doubled, also_failed, miscounted):
        assert "every image ends once" in failed(images, broken)


def test_a_thumbnail_of_the_wrong_size_or_aspect_fails_the_shape_check(
    images: Images, outcome: Outcome
) -> None:
    first = outcome.thumbnails[0]
    taller = first["height"] + 2
    for changes in (
        {"height": taller, "pixels": bytes(150 * taller * 3)},
        {"width": 151, "pixels": bytes(151 * first["height"] * 3)},
        {"pixels": first["pixels"][:-3]},
    ):
        broken = with_thumbnail(outcome, 0, **changes)
        assert "thumbnails 150 wide, aspect kept" in failed(images, broken)


def test_a_thumbnail_unlike_the_reference_fails_the_reference_check(
    images: Images, outcome: Outcome
) -> None:
    pixels = bytearray(outcome.thumbnails[0]["pixels"])
    pixels[0] ^= 1
    assert failed(images, with_thumbnail(outcome, 0, pixels=bytes(pixels))) == [
        "thumbnails match the reference"
    ]
    swapped = with_thumbnail(outcome, 0, id=outcome.thumbnails[1]["id"])
    swapped = with_thumbnail(swapped, 1, id=outcome.thumbnails[0]["id"])
    assert "thumbnails match the reference" in failed(images, swapped)


def test_more_images_in_flight_than_allowed_or_a_count_left_over_fails_the_limit_check(
    images: Images, outcome: Outcome
) -> None:
    stage = next(iter(outcome.loads))
    for load in (Load(now=0, peak=3), Load(now=1, peak=2), Load(now=0, peak=0)):
        broken = attrs.evolve(outcome, loads={stage: load})
        assert failed(images, broken) == ["images in flight within the limit"]


def test_the_pipes_limits_come_from_its_declared_stages(images: Images, outcome: Outcome) -> None:
    limits = stage_limits(images)
    smallest = min(spec["width"] * spec["height"] for spec in images.specs)
    assert limits == {GENERATE: 8 * 20, THUMBNAIL: 4 * (2_000_000 // smallest)}
    at_the_limit = {stage: Load(now=0, peak=limit) for stage, limit in limits.items()}
    piped = attrs.evolve(outcome, threads=None, loads=at_the_limit)
    assert failed(images, piped) == []
    over = {**at_the_limit, THUMBNAIL: Load(now=0, peak=limits[THUMBNAIL] + 1)}
    assert failed(images, attrs.evolve(piped, loads=over)) == ["images in flight within the limit"]
    unmeasured = {GENERATE: at_the_limit[GENERATE]}
    assert failed(images, attrs.evolve(piped, loads=unmeasured)) == [
        "images in flight within the limit"
    ]
