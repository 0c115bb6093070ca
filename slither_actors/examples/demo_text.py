"""Functions the ``text_analysis`` demo runs inside worker processes."""

from __future__ import annotations

from typing import Any

POSITIVE = {"good", "great", "love", "lovely", "excellent", "happy", "fast", "friendly", "fresh"}
NEGATIVE = {"bad", "awful", "hate", "broken", "slow", "rude", "cold", "late", "noisy"}


def analyse(texts: list[str]) -> list[dict[str, Any]]:
    """Word count and a sentiment-ish score for each normalised text: the share of its words
    that are positive, less the share that are negative."""
    results = []
    for text in texts:
        words = text.split()
        positive = sum(word in POSITIVE for word in words)
        negative = sum(word in NEGATIVE for word in words)
        score = round((positive - negative) / len(words), 2)
        results.append({"text": text, "words": len(words), "score": score})
    return results
