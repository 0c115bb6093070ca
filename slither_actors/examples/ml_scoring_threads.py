"""The ml_scoring demo's threaded baselines: both sessions train and score in this process.

Each session gets a thread that trains its model, then scores its records in batches (in
``threads // 2`` threads of its own): enrich, featurize, predict, route, as the pipe does.

- ``safe_python`` keeps a model per session, in a dict guarded by a lock.
- ``unsafe_threaded`` keeps "the current model" in one shared place, as a script written
  for one model does: each session's thread puts its model there once trained, and every
  batch is scored with whatever model is there at that moment. The session that finishes
  training first scores with its own model until the other's replaces it.

Importing this module imports scikit-learn.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any

import attrs

from slither_actors.examples._workload import run_in_threads, split
from slither_actors.examples.ml_scoring_data import (
    ModelFound,
    Rejected,
    Scored,
    ScoringData,
    ScoringOutcome,
    SessionData,
    SessionOutcome,
    bucket_of,
    enrich,
    featurize,
)
from slither_actors.examples.ml_scoring_work import SessionModel, fit, probabilities

__all__ = ["BATCH_SIZE", "HOLDER", "run_threaded"]

BATCH_SIZE = 64
HOLDER = "this process"


@attrs.define
class _CurrentModel:
    """The one model a single-model script keeps: whoever set it last wins."""

    model: SessionModel | None = None


def run_threaded(data: ScoringData, threads: int, safe: bool) -> ScoringOutcome:
    """Train and score both sessions in threads; the outcome, for the same checks."""
    per_session = max(1, threads // len(data.sessions))
    models: dict[str, SessionModel] = {}  # safe: one per session
    lock = threading.Lock()
    shared = _CurrentModel()  # unsafe: the current one

    def serve(session: SessionData) -> SessionOutcome:
        features = [featurize(record) for record in session.history]
        model = fit(session.name, features, session.labels)
        if safe:
            with lock:
                models[session.name] = model
        else:
            shared.model = model

        def score_part(records: Sequence[dict[str, Any]]) -> SessionOutcome:
            outcome = SessionOutcome([], [])
            for start in range(0, len(records), BATCH_SIZE):
                in_use = models[session.name] if safe else shared.model
                assert in_use is not None  # this session's thread set one before
                _score_batch(in_use, records[start : start + BATCH_SIZE], outcome)
            return outcome

        parts = run_in_threads(
            [functools.partial(score_part, part) for part in split(session.records, per_session)]
        )
        return SessionOutcome(
            [one for part in parts for one in part.scored],
            [one for part in parts for one in part.rejected],
        )

    outcomes = run_in_threads([functools.partial(serve, session) for session in data.sessions])
    kept = list(models.values()) if safe else [shared.model] if shared.model is not None else []
    found = [ModelFound(holder=HOLDER, **model.describe()) for model in kept]
    by_session = {
        session.name: outcome for session, outcome in zip(data.sessions, outcomes, strict=True)
    }
    return ScoringOutcome(by_session, found, [HOLDER])


def _score_batch(
    model: SessionModel, records: Sequence[dict[str, Any]], outcome: SessionOutcome
) -> None:
    """Enrich, featurize, predict and route one batch into ``outcome``."""
    enriched = []
    for record in records:
        try:
            enriched.append(enrich(record))
        except ValueError as error:
            outcome.rejected.append(Rejected(record["id"], f"ValueError: {error}"))
    if not enriched:
        return
    answers = probabilities(model, [featurize(record) for record in enriched])
    for record, probability in zip(enriched, answers, strict=True):
        bucket = bucket_of(probability)
        outcome.scored.append(Scored(record["id"], bucket, probability, model.session, HOLDER))
