"""The demos, runnable as ``python -m slither_actors.examples [NAME ...] [--all]``.

Five are the seed's workloads, each run by slither_actors and by two pure-Python threaded
baselines over the same data, with invariant checks (`Workload`s). Two are stories that
walk through supervision and worker pools.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

import attrs

__all__ = ["DEMOS", "EXTRA_COMMAND", "Demo"]

EXTRA_COMMAND = "pip install -e '.[examples]'"
"""What installs the ``examples`` extra, from a checkout of slither_actors."""


@attrs.frozen
class Demo:
    """One demo: its name, what it shows, the module that holds it, and the modules of the
    ``examples`` extra it needs (import name -> pip name), and whether its workers call
    store views.

    A ``workload`` module has ``WORKLOAD``, a `Workload`; a ``story`` module has ``main()``,
    which prints as it goes.
    """

    name: str
    summary: str
    module: str
    kind: Literal["workload", "story"] = "workload"
    needs: dict[str, str] = attrs.Factory(dict)
    views: bool = False  # its workers call store views (which Ray actors cannot reach)

    def load(self) -> Any:
        """The demo's module, imported."""
        return importlib.import_module(self.module)


_HERE = "slither_actors.examples"

DEMOS: dict[str, Demo] = {
    demo.name: demo
    for demo in [
        Demo(
            "text_analysis",
            "5,000 documents: stopwords in a Store read by workers through a view, "
            "prepare -> analyze -> classify, word index merged from every worker",
            f"{_HERE}.text_analysis",
            views=True,
        ),
        Demo(
            "batch_stats",
            "2,000 datasets, 50 poisoned: FixedBatch, WeightedBatch, KeyPartition and a "
            "stream; Welford merge; exactly the poisoned ones fail",
            f"{_HERE}.batch_stats",
        ),
        Demo(
            "data_etl",
            "15,000 rows against a schema Store hot-reloaded v1 -> v2 and flipped 20 times "
            "in flight; one schema version per row; validations = audit entries = rows",
            f"{_HERE}.data_etl",
            views=True,
        ),
        Demo(
            "ml_scoring",
            "two sessions train two scikit-learn models in their own workers, then score "
            "2,000 records each, routed by confidence; a killed worker gives SessionLost",
            f"{_HERE}.ml_scoring",
            needs={"sklearn": "scikit-learn", "numpy": "numpy"},
        ),
        Demo(
            "image_pipeline",
            "200 images generated and thumbnailed with Pillow in workers, batched by pixels; "
            "megapixels/s, each worker's peak memory, peak images in flight",
            f"{_HERE}.image_pipeline",
            needs={"PIL": "Pillow"},
        ),
        Demo(
            "supervision",
            "a crashing actor under rest_for_one: restarts, escalation and telemetry",
            f"{_HERE}.supervision",
            kind="story",
        ),
        Demo(
            "workers",
            "a pool of worker processes: a crash, a timeout, print capture, broadcast",
            f"{_HERE}.workers",
            kind="story",
        ),
    ]
}
