"""Worker functions for ``custom_store.py``: they read the parent's store through a view."""

from __future__ import annotations

from typing import Any

from slither_actors.worker import call_view


def checkout(baskets: list[dict[str, Any]]) -> list[int]:
    """What each basket costs once its user's discount, read from the store, is taken off."""
    return [
        basket["total"] * (100 - call_view("discount", user=basket["user"])) // 100
        for basket in baskets
    ]
