"""The ml_scoring demo's data and what every mode shares: two shops' customer histories,
the records to score, the record-level steps (enrich, featurize, route) and the outcome.

Each session is a shop. Both shops see the same kind of customer, but their histories say
opposite things: at the north shop a customer who visits often and rarely calls support buys
again; at the south shop, one who visits rarely and calls often does (a repair shop, say). A
record scored by the other shop's model gets the other shop's answer, so a wrong-model answer
cannot hide. Everything is drawn from seeded `random` generators: plain floats and ints
that travel to a worker as they are.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

__all__ = [
    "HIGH",
    "LOW",
    "PLAN_PRICES",
    "SESSIONS",
    "KillReport",
    "ModelFound",
    "Rejected",
    "Rule",
    "Scored",
    "ScoringData",
    "ScoringOutcome",
    "SessionData",
    "SessionOutcome",
    "bucket_of",
    "confidence_of",
    "enrich",
    "featurize",
    "make_data",
]

HIGH = 0.9
"""A prediction this confident or more goes to ``high``."""
LOW = 0.6
"""A prediction less confident than this goes to ``low``; the rest to ``medium``."""

PLAN_PRICES = {"basic": 5.0, "plus": 12.0, "pro": 25.0}
"""The monthly price of each plan: the reference data ``enrich`` joins to a record."""

_FIELDS = ("months", "visits", "basket", "tickets")
_SIZES = {"small": (400, 400), "full": (2000, 2000)}  # training rows, records to score
_MALFORMED_EVERY = 100  # one record in a hundred is malformed


@attrs.frozen
class Rule:
    """How a shop's customers behave: who buys again, as weights over the features.

    A customer buys again with probability ``sigmoid(sharpness * (weights . features +
    bias))``; ``says`` is the rule without that noise, the label the data stands for.
    """

    weights: tuple[float, ...]
    bias: float
    sharpness: float = 2.0

    def margin(self, features: list[float]) -> float:
        """How far ``features`` lie on the buying side of the rule (negative: the other)."""
        pairs = zip(self.weights, features, strict=True)
        return sum(weight * value for weight, value in pairs) + self.bias

    def says(self, features: list[float]) -> int:
        """1 if the rule says this customer buys again, else 0."""
        return 1 if self.margin(features) > 0 else 0

    def draw_label(self, features: list[float], rng: random.Random) -> int:
        """A label drawn as the shop's history would hold it: the rule, with noise."""
        chance = 1.0 / (1.0 + math.exp(-self.sharpness * self.margin(features)))
        return 1 if rng.random() < chance else 0


SESSIONS: dict[str, Rule] = {
    # features: months / 12, visits / 4, log(basket) - 3, tickets / 2, plan price / 10
    "shop-north": Rule((0.3, 1.6, 0.8, -1.4, 0.2), -1.0),
    "shop-south": Rule((-0.3, -1.5, 0.6, 1.3, -0.2), 0.6),
}
"""The two sessions, each with the rule its shop's data follows."""


def enrich(record: dict[str, Any]) -> dict[str, Any]:
    """The record checked and joined with its plan's price; `ValueError` if it is malformed
    (a field missing or not a number, an unknown plan)."""
    for field in _FIELDS:
        value = record.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{record.get('id')}: {field} is {value!r}, not a number")
    plan = record.get("plan")
    if plan not in PLAN_PRICES:
        raise ValueError(f"{record.get('id')}: unknown plan {plan!r}")
    return {**record, "price": PLAN_PRICES[plan]}


def featurize(record: dict[str, Any]) -> list[float]:
    """An enriched record as the model's five features, each of about unit scale."""
    return [
        record["months"] / 12,
        record["visits"] / 4,
        math.log(max(record["basket"], 1.0)) - 3,
        record["tickets"] / 2,
        record["price"] / 10,
    ]


def confidence_of(probability: float) -> float:
    """How sure a prediction of ``probability`` (that the customer buys again) is."""
    return max(probability, 1.0 - probability)


def bucket_of(probability: float) -> str:
    """``high``, ``medium`` or ``low``, by the prediction's confidence."""
    confidence = confidence_of(probability)
    return "high" if confidence >= HIGH else "low" if confidence < LOW else "medium"


@attrs.frozen
class SessionData:
    """One session's data: its shop's labelled history (enriched records) to train on, and
    the records to score, ``malformed`` among them (their ids)."""

    name: str
    rule: Rule
    history: list[dict[str, Any]]
    labels: list[int]
    records: list[dict[str, Any]]
    malformed: frozenset[str]

    def training_set(self) -> dict[str, Any]:
        """The history and its labels as one payload."""
        return {"records": self.history, "labels": self.labels}


@attrs.frozen
class ScoringData:
    """Both sessions' data, the same for every mode."""

    sessions: list[SessionData]

    def session(self, name: str) -> SessionData:
        """The session called ``name``."""
        return next(session for session in self.sessions if session.name == name)


def make_data(size: str) -> ScoringData:
    """Each session's history and records, drawn from its own seed."""
    history_size, record_count = _SIZES[size]
    sessions = []
    for number, (name, rule) in enumerate(SESSIONS.items()):
        rng = random.Random(1000 + number)
        history = [enrich(_customer(rng, f"{name}-h{index:05}")) for index in range(history_size)]
        labels = [rule.draw_label(featurize(record), rng) for record in history]
        records, malformed = [], set()
        for index in range(record_count):
            record = _customer(rng, f"{name}-{index:05}")
            if index % _MALFORMED_EVERY == _MALFORMED_EVERY - 1:
                _spoil(record, index)
                malformed.add(record["id"])
            records.append(record)
        sessions.append(SessionData(name, rule, history, labels, records, frozenset(malformed)))
    return ScoringData(sessions)


def _customer(rng: random.Random, customer_id: str) -> dict[str, Any]:
    return {
        "id": customer_id,
        "months": rng.randint(1, 60),
        "visits": round(rng.uniform(0, 12), 2),
        "basket": round(math.exp(rng.uniform(math.log(5), math.log(200))), 2),
        "tickets": rng.randint(0, 6),
        "plan": rng.choice(sorted(PLAN_PRICES)),
    }


def _spoil(record: dict[str, Any], index: int) -> None:
    """Make ``record`` malformed, in one of three ways."""
    match index // _MALFORMED_EVERY % 3:
        case 0:
            del record["visits"]
        case 1:
            record["basket"] = "n/a"
        case _:
            record["plan"] = "gold"


# --- the outcome, as every mode reports it --------------------------------------------------


@attrs.frozen
class Scored:
    """A scored record: its bucket, the probability that the customer buys again, the
    session whose model answered, and where that model lives."""

    record_id: str
    bucket: str
    probability: float
    model: str
    holder: str


@attrs.frozen
class Rejected:
    """A record that ended in the run's errors, and why."""

    record_id: str
    reason: str


@attrs.frozen
class SessionOutcome:
    """What became of one session's records."""

    scored: list[Scored]
    rejected: list[Rejected]


@attrs.frozen
class ModelFound:
    """A model found once the run was over: its session, where it lives, its parameters."""

    session: str
    holder: str
    coefficients: list[float]
    intercept: float


@attrs.frozen
class KillReport:
    """The kill phase: the worker holding ``victim``'s model (``killed``) was killed, then
    each session asked to score a few records. ``lost`` and ``survivor_lost`` are what their
    calls raised (``"Type: message"``), or None if they answered; ``victim_answers`` and
    ``survivor_answers`` what they answered; ``after_end_session`` what the victim's call
    raised once its binding was forgotten (its answers, if any, are in ``victim_answers``)."""

    victim: str
    survivor: str
    killed: str
    lost: str | None
    victim_answers: list[Scored]
    survivor_lost: str | None
    survivor_answers: list[Scored]
    after_end_session: str | None


@attrs.frozen
class ScoringOutcome:
    """A mode's outcome: each session's records, the models found, the places searched for
    them (every worker, or this process), and the kill phase (slither_actors only)."""

    sessions: dict[str, SessionOutcome]
    models: list[ModelFound]
    places: list[str]
    kill: KillReport | None = None
