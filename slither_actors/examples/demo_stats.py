"""Functions the ``batch_stats`` demo runs inside worker processes."""

from __future__ import annotations

import statistics
from typing import Any


def describe(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread of each dataset; a dataset that is not all numbers fails the call."""
    return [
        {
            "name": dataset["name"],
            "mean": round(statistics.fmean(dataset["values"]), 3),
            "stdev": round(statistics.stdev(dataset["values"]), 3),
        }
        for dataset in datasets
    ]
