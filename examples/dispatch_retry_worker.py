"""Worker functions for ``dispatch_retry.py``."""

from __future__ import annotations

from typing import Any


def parse(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record's reading as a number. One unreadable reading fails the whole call."""
    return [{"id": record["id"], "value": float(record["reading"])} for record in records]
