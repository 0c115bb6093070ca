"""Worker functions for ``long_running_service.py``."""

from __future__ import annotations

from typing import Any

ALERT_ABOVE = 40.0  # degrees Celsius


def classify(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reading with its temperature in Fahrenheit and whether it calls for an alert."""
    return [
        {
            **reading,
            "fahrenheit": reading["celsius"] * 9 / 5 + 32,
            "alert": reading["celsius"] > ALERT_ABOVE,
        }
        for reading in readings
    ]
