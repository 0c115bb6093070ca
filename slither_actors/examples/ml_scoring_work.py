"""The ml_scoring demo's worker side: train a session's model, featurize, predict.

Preloaded in every worker of the demo's pool, so scikit-learn is imported while a worker
starts. A worker keeps the models trained in it in ``MODELS``, by session: with strict
affinity a session's calls all come to the worker that trained its model, and ``predict``
answers a session only with that session's model, or refuses.

``fit`` and ``probabilities`` are plain functions, which the threaded baselines call too.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from slither_actors import worker
from slither_actors.examples.ml_scoring_data import confidence_of, featurize

__all__ = [
    "MODELS",
    "SessionModel",
    "featurize_records",
    "fit",
    "inventory",
    "predict",
    "probabilities",
    "train",
]


@attrs.frozen
class SessionModel:
    """A model and the session it was trained for."""

    session: str
    estimator: LogisticRegression

    def describe(self) -> dict[str, Any]:
        """The model as plain data: its session and parameters."""
        return {
            "session": self.session,
            "coefficients": [float(value) for value in self.estimator.coef_[0]],
            "intercept": float(self.estimator.intercept_[0]),
        }


MODELS: dict[str, SessionModel] = {}
"""This worker's models, by session."""


def fit(session: str, features: list[list[float]], labels: list[int]) -> SessionModel:
    """A logistic regression fitted to a session's history, featurized."""
    return SessionModel(session, LogisticRegression().fit(features, labels))


def probabilities(model: SessionModel, features: list[list[float]]) -> list[float]:
    """The probability that each customer buys again, by ``model``."""
    return [float(value) for value in model.estimator.predict_proba(features)[:, 1]]


def _session() -> str:
    session = worker.current_session_id()
    if session is None:
        raise ValueError("a model belongs to a session: call with a session_id")
    return session


def _where() -> str:
    return f"worker {worker.worker_id()} pid {os.getpid()}"


def train(training_sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fit the calling session's model and keep it in this worker; per training set, the
    session and where its model now lives."""
    session = _session()
    results = []
    for training_set in training_sets:
        features = [featurize(record) for record in training_set["records"]]
        MODELS[session] = fit(session, features, training_set["labels"])
        results.append({"session": session, "holder": _where()})
    return results


def featurize_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each enriched record as its id and features."""
    return [{"id": record["id"], "features": featurize(record)} for record in records]


def predict(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score featurized rows with the calling session's model: per row, the probability
    that the customer buys again, how confident that is, the session whose model answered
    and where it lives. `LookupError` if this worker holds
    no model for the session: it never answers with another session's."""
    session = _session()
    model = MODELS.get(session)
    if model is None:
        held = ", ".join(sorted(MODELS)) or "none"
        raise LookupError(f"{_where()} holds no model for session {session!r} (it holds: {held})")
    answers = probabilities(model, [row["features"] for row in rows])
    where = _where()
    return [
        {
            "id": row["id"],
            "probability": probability,
            "confidence": confidence_of(probability),
            "model": model.session,
            "holder": where,
        }
        for row, probability in zip(rows, answers, strict=True)
    ]


def inventory(_: list[Any]) -> list[dict[str, Any]]:
    """Where this worker is and the models it holds, for a broadcast."""
    return [{"holder": _where(), "models": [model.describe() for model in MODELS.values()]}]


def _warm_up() -> None:
    """Fit a tiny model once, so that the first session's training does not pay for
    scikit-learn's first call (its lazy set-up) while it is timed: that is part of starting."""
    LogisticRegression().fit([[0.0], [1.0]], [0, 1])


_warm_up()
