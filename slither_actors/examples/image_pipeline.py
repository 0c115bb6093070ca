"""Demo: 200 seeded images generated and thumbnailed with Pillow in worker processes.

A pipe of two worker stages, each with a pool of its own:

- ``generate`` draws each image from its seed (turned gradients under coloured shapes) and
  saves it as a JPEG file, in batches of 20, at most 8 batches in flight;
- ``thumbnail`` shrinks each to 150 pixels wide (Lanczos) in batches of about 2
  megapixels (an image bigger than that travels alone), at most 4 batches in flight.

The data path, and why. Images cross the process boundary as JPEG ``bytes``, as image
files reach a thumbnailer; a thumbnail comes back as raw RGB ``bytes``. Raw frames were
tried first: a 4K frame is 25 MB, a generate batch up to 500 MB (so a ``max_frame`` sized
for it; the default 64 MiB holds two), and the pool carried them intact but slowly, each
byte copied about eight times on each hop (packing, framing, the pipe, buffering,
unpacking), through the parent and on to the next worker. On the shared 2-core machine
this was written on, raw took 8 to 9 s at full size, the parent peaking at 950 MB and
each generate worker at 550 to 740 MB; JPEG took 1.5 to 3 s, the parent at 50 MB and
each worker under 80 MB. Saving a 4K frame as JPEG costs 20 ms (PNG, lossless, 180 ms:
more than drawing it) and makes it 0.3 MB, so any batch fits the default frame limit; and
reading a JPEG at 1/2, 1/4 or 1/8 scale, as ``Image.thumbnail`` does, makes the thumbnail
four times cheaper. The threaded baselines do the same work (draw, save as JPEG, shrink),
so every mode makes the very same thumbnails.

Why two pools. With one, the thumbnail batches queue behind the generate batches (8 in
flight) and the parent holds up to 190 of the 200 images between the stages; with a pool
per stage, thumbnails are made as images arrive, and about 60 wait at the most. The
thumbnail pool has half the workers: it does a third of the work.

Measured, not assumed: a telemetry handler counts each stage's images in flight from the
dispatch batch spans (start to stop), and the checks compare the peak with the limit the
stage's declared strategy and ``max_in_flight`` allow; a broadcast asks every worker for
its peak memory.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import Any

import slither_actors as sa
from slither_actors.examples._workload import (
    Check,
    Options,
    Workload,
    check,
    run_in_threads,
    split,
)
from slither_actors.examples.image_pipeline_data import (
    Images,
    Load,
    Outcome,
    make_images,
    pixels,
    process_rss_mb,
)

WORK = "slither_actors.examples.image_pipeline_work"
GENERATE, THUMBNAIL = "generate", "thumbnail"
BASELINE_STAGE = "draw and shrink"


class Thumbnails(sa.Pipe):
    """Generate, then thumbnail, each stage in a pool of its name; a failed batch's images
    are skipped (they end in error records)."""

    stages = [
        sa.WorkerStage(
            GENERATE,
            module=WORK,
            function="generate",
            pool=GENERATE,
            strategy=sa.FixedBatch(20),
            max_in_flight=8,
        ),
        sa.WorkerStage(
            THUMBNAIL,
            module=WORK,
            function="thumbnail",
            pool=THUMBNAIL,
            strategy=sa.WeightedBatch(2_000_000, weight=pixels),
            max_in_flight=4,
        ),
    ]
    on_error = {"*": "skip"}


def settings(options: Options) -> sa.Settings:
    """A pool per stage, so that thumbnails are made while images are still generated:
    ``options.workers`` workers generate, half as many (one at least) make thumbnails, a
    third of the work. Each worker imports Pillow as it starts."""
    return sa.Settings(
        pools=(
            sa.PoolSettings(name=GENERATE, size=options.workers, preload=(WORK,)),
            sa.PoolSettings(name=THUMBNAIL, size=max(1, options.workers // 2), preload=(WORK,)),
        )
    )


def stage_limits(images: Images) -> dict[str, int]:
    """The most images each stage of `Thumbnails` can have in flight, from its declaration:
    its ``max_in_flight`` batches times the most images a batch can hold (under a
    `WeightedBatch`, as many of the smallest images as fit its weight; one at least)."""
    smallest = min(pixels(spec) for spec in images.specs)
    limits = {}
    for stage in Thumbnails.stages:
        assert isinstance(stage, sa.WorkerStage) and stage.max_in_flight is not None
        strategy = stage.strategy
        if isinstance(strategy, sa.FixedBatch):
            per_batch = strategy.batch_size
        else:
            assert isinstance(strategy, sa.WeightedBatch)
            per_batch = max(1, int(strategy.max_weight // smallest))
        limits[stage.name] = stage.max_in_flight * per_batch
    return limits


async def slither(runtime: sa.Runtime, images: Images, options: Options) -> Outcome:
    """Run the pipe over the specs, counting images in flight from the batch spans; then
    ask each worker for its peak memory."""
    # Workers see what they need; which image an item is travels in its meta, which the
    # pipe keeps from input to output.
    inputs = [
        sa.Item.wrap(
            {"width": spec["width"], "height": spec["height"], "seed": spec["seed"]},
            meta={"image": spec["id"]},
        )
        for spec in images.specs
    ]
    loads = {GENERATE: Load(), THUMBNAIL: Load()}
    tally = 0
    parent_peak = process_rss_mb()

    def on_batch(event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        nonlocal tally, parent_peak
        load = loads.get(str(metadata["stage"]))
        if load is None:
            return
        if event[-1] == "start":
            load.now += metadata["size"]
            load.peak = max(load.peak, load.now)
            return
        load.now -= metadata["size"]
        if metadata["stage"] == THUMBNAIL and event[-1] == "stop":
            tally += measurements["count"]
        parent_peak = max(parent_peak, process_rss_mb())  # sampled as each batch ends

    batch = ("slither", "dispatch", "batch")
    events = [(*batch, "start"), (*batch, "stop"), (*batch, "exception")]
    handler = "image_pipeline in flight"
    sa.telemetry.attach(handler, events, on_batch)
    started = time.perf_counter()
    try:
        result = await sa.run_pipe(Thumbnails, inputs, progress=options.bar("images"))
    finally:
        sa.telemetry.detach(handler)
    seconds = time.perf_counter() - started
    workers = {}
    for stage in (GENERATE, THUMBNAIL):
        pool = await runtime.pool(stage)
        for reply in await pool.broadcast(f"{WORK}:peak_memory"):
            if reply.error is None:
                workers[f"{stage} {reply.worker_id}"] = reply.value["peak_rss_mb"]
    return Outcome(
        thumbnails=[{"id": item.meta["image"], **item.payload} for item in result["default"]],
        failed=[record.item.meta["image"] for record in result.errors],
        tally=tally,
        loads=loads,
        seconds=seconds,
        parent_peak_rss_mb=parent_peak,
        worker_peak_rss_mb=workers,
    )


def threaded(images: Images, threads: int, safe: bool) -> Outcome:
    """Each thread draws, saves and shrinks its share of the images (Pillow lets go of the
    GIL in its C loops). Shared: the list of thumbnails, the count of those done and the
    count of images in flight, updated under a lock when ``safe``, as plain
    read-modify-writes when not."""
    from slither_actors.examples import image_pipeline_work as work

    guard: Any = threading.Lock() if safe else contextlib.nullcontext()
    load = Load()
    thumbnails: list[dict[str, Any]] = []
    failed: list[int] = []
    shared = {"done": 0, "parent_peak_rss_mb": process_rss_mb()}

    def make(specs: list[dict[str, Any]]) -> None:
        for spec in specs:
            with guard:
                load.now = load.now + 1
                load.peak = max(load.peak, load.now)
            try:
                small = work.shrink(work.render_jpeg(spec["width"], spec["height"], spec["seed"]))
            except Exception:
                with guard:
                    failed.append(spec["id"])
            else:
                size = {"width": small.width, "height": small.height}
                made = {"id": spec["id"], **size, "pixels": small.tobytes()}
                with guard:
                    thumbnails.append(made)
                    shared["done"] = shared["done"] + 1
            with guard:
                load.now = load.now - 1
                shared["parent_peak_rss_mb"] = max(shared["parent_peak_rss_mb"], process_rss_mb())

    started = time.perf_counter()
    run_in_threads([functools.partial(make, list(part)) for part in split(images.specs, threads)])
    return Outcome(
        thumbnails=thumbnails,
        failed=failed,
        tally=int(shared["done"]),
        loads={BASELINE_STAGE: load},
        seconds=time.perf_counter() - started,
        parent_peak_rss_mb=shared["parent_peak_rss_mb"],
        threads=threads,
    )


def check_images(images: Images, outcome: Outcome) -> list[Check]:
    """The invariants: every image ends as one thumbnail or one failure, and the mode's
    tally agrees; every thumbnail is 150 wide with the image's aspect ratio; each matches
    the reference made in the parent; the images in flight never passed the limit."""
    from slither_actors.examples import image_pipeline_work as work

    ids = [spec["id"] for spec in images.specs]
    ended = sorted([thumbnail["id"] for thumbnail in outcome.thumbnails] + outcome.failed)
    made = len(outcome.thumbnails)
    accounted = check(
        "every image ends once",
        ended == sorted(ids) and outcome.tally == made,
        f"{len(ended):,} endings for {len(ids):,} images: {made:,} thumbnails, "
        f"{len(outcome.failed)} failed; tallied {outcome.tally:,} as they came",
    )
    sizes = {spec["id"]: (spec["width"], spec["height"]) for spec in images.specs}
    misshapen = [
        thumbnail["id"]
        for thumbnail in outcome.thumbnails
        if not _well_shaped(thumbnail, sizes.get(thumbnail["id"]), work.THUMBNAIL_WIDTH)
    ]
    shapes = check(
        "thumbnails 150 wide, aspect kept",
        not misshapen,
        f"{made - len(misshapen):,} of {made:,} thumbnails {work.THUMBNAIL_WIDTH} wide and "
        f"within a pixel of {work.THUMBNAIL_WIDTH} x height / width high, 3 bytes a pixel"
        + _first(misshapen),
    )
    reference = images.reference()
    unlike = [
        thumbnail["id"]
        for thumbnail in outcome.thumbnails
        if reference.get(thumbnail["id"])
        != (thumbnail["width"], thumbnail["height"], work.digest(thumbnail["pixels"]))
    ]
    matched = check(
        "thumbnails match the reference",
        not unlike,
        f"{made - len(unlike):,} of {made:,} identical to the reference thumbnail of their image"
        + _first(unlike),
    )
    limits = stage_limits(images) if outcome.threads is None else {BASELINE_STAGE: outcome.threads}
    loads = [(stage, outcome.loads.get(stage, Load()), limit) for stage, limit in limits.items()]
    bounded = check(
        "images in flight within the limit",
        all(1 <= load.peak <= limit and load.now == 0 for _, load, limit in loads),
        "; ".join(
            f"{stage}: peak {load.peak} of {limit} allowed, {load.now} at the end"
            for stage, load, limit in loads
        ),
    )
    return [accounted, shapes, matched, bounded]


def _well_shaped(thumbnail: dict[str, Any], size: tuple[int, int] | None, wide: int) -> bool:
    if size is None:
        return False
    width, height = size
    return bool(
        thumbnail["width"] == wide
        and abs(thumbnail["height"] - wide * height / width) < 1
        and len(thumbnail["pixels"]) == thumbnail["width"] * thumbnail["height"] * 3
    )


def _first(wrong: list[int]) -> str:
    return f" (first wrong: image {wrong[0]})" if wrong else ""


def figures(images: Images, outcome: Outcome) -> dict[str, Any]:
    """Megapixels/s, the peak memory of the parent and of each worker, peaks in flight."""
    shown: dict[str, Any] = {
        "megapixels": round(images.megapixels, 1),
        "megapixels_per_second": round(images.megapixels / outcome.seconds, 1),
        "parent_peak_rss_mb": round(outcome.parent_peak_rss_mb),
    }
    if outcome.worker_peak_rss_mb:
        shown["worker_peak_rss_mb"] = ", ".join(
            f"{worker} {peak:.0f}" for worker, peak in outcome.worker_peak_rss_mb.items()
        )
    shown["peak_in_flight"] = ", ".join(
        f"{stage} {load.peak}" for stage, load in outcome.loads.items()
    )
    return shown


WORKLOAD = Workload(
    name="image_pipeline",
    summary="200 images generated and thumbnailed with Pillow in workers, batched by pixels; "
    "megapixels/s, each worker's peak memory, peak images in flight",
    make_data=make_images,
    settings=settings,
    slither=slither,
    threaded=threaded,
    check=check_images,
    count=lambda images: len(images.specs),
    figures=figures,
    stages=(GENERATE, THUMBNAIL),
)
