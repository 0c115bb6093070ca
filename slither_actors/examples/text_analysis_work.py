"""The worker side of the ``text_analysis`` demo: score documents, and keep a word index and
a document count per session in the process, until a broadcast gathers them.

Each worker process has its own counts: no other thread or process touches them, so they
need no lock. The stopwords are not here: they live in a Store in the parent, and each
worker reads them through the session's ``stopwords`` view. Preloaded in every worker, so
it imports nothing heavy (no trio).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from slither_actors import worker

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "SessionTally",
    "analyze",
    "collect",
    "content_words",
    "sentiment",
]

POSITIVE = frozenset(
    {
        "good", "great", "excellent", "lovely", "happy", "friendly", "fresh", "fast", "bright",
        "calm", "clean", "warm", "delightful", "helpful", "pleasant", "reliable", "smooth",
        "wonderful", "brilliant", "charming", "cheerful", "generous", "gentle", "perfect",
        "superb"
    }
)
NEGATIVE = frozenset(
    {
        "bad", "awful", "broken", "slow", "rude", "cold", "late", "noisy", "dirty", "dull",
        "harsh", "poor", "terrible", "weak", "angry", "annoying", "boring", "cramped", "faulty",
        "gloomy", "messy", "painful", "sloppy", "stale", "useless"
    }
)


def content_words(text: str, stopwords: frozenset[str]) -> list[str]:
    """The words of a prepared (lowercase, punctuation-free) text that are not stopwords."""
    return [word for word in text.split() if word not in stopwords]


def sentiment(words: list[str]) -> float:
    """The share of ``words`` that are positive less the share that are negative, from -1
    to 1 (0 for no words)."""
    if not words:
        return 0.0
    positive = sum(word in POSITIVE for word in words)
    negative = sum(word in NEGATIVE for word in words)
    return (positive - negative) / len(words)


@attrs.define
class SessionTally:
    """What this worker process has counted for one session: its word index, how many
    documents it analysed, and the stopwords it read for the session."""

    stopwords: frozenset[str]
    index: Counter[str] = attrs.Factory(Counter)
    documents: int = 0


_tallies: dict[str, SessionTally] = {}


def _session_tally() -> SessionTally:
    """The tally of the session of the call being handled, made on its first batch here.

    The stopwords are read once per session in each worker, not once per batch or per
    document: they do not change during a run, so the view's reply is kept with the
    session's counts (a reload of the store mid-run would be seen by the next run).
    """
    session_id = worker.current_session_id()
    if session_id is None:
        raise RuntimeError("analyze keeps its counts per session: call it with a session_id")
    tally = _tallies.get(session_id)
    if tally is None:
        stopwords = frozenset(worker.call_view("stopwords"))
        tally = _tallies[session_id] = SessionTally(stopwords)
    return tally


def analyze(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each prepared document ``{"id", "text"}`` scored as ``{"id", "words", "sentiment"}``
    (``words``: how many are not stopwords); its words join this process's index for the
    session, and it counts as one document analysed here."""
    tally = _session_tally()
    index: Counter[str] = Counter()
    scored = []
    for document in documents:
        words = content_words(document["text"], tally.stopwords)
        index.update(words)
        scored.append({"id": document["id"], "words": len(words), "sentiment": sentiment(words)})
    # The batch joins the session's counts only once all of it is scored: a batch that
    # raises leaves no trace here, so retrying it elsewhere cannot count it twice.
    tally.index.update(index)
    tally.documents += len(documents)
    return scored


def collect(session_ids: list[str]) -> list[dict[str, Any]]:
    """For a broadcast of a session id: this process's counts for that session, forgotten as
    they are handed over (zeros for a session this process never saw)."""
    results = []
    for session_id in session_ids:
        tally = _tallies.pop(session_id, None)
        results.append(
            {
                "worker": worker.worker_id(),
                "documents": 0 if tally is None else tally.documents,
                "index": {} if tally is None else dict(tally.index),
            }
        )
    return results
