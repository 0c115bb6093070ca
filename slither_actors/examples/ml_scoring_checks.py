"""The ml_scoring demo's invariant checks, the same for every mode.

Each mode's models and answers are held against a reference: a logistic regression fitted
to each session's history here, by Newton's method in numpy, apart from scikit-learn. A
record answered by its own session's model gets that reference's probability, to within
`PROBABILITY_TOLERANCE`; one answered by the other session's model is off by far more,
since the two shops' data say opposite things.
"""

from __future__ import annotations

from collections import Counter

import attrs
import numpy as np

from slither_actors.examples._workload import Check, check
from slither_actors.examples.ml_scoring_data import (
    HIGH,
    LOW,
    Scored,
    ScoringData,
    ScoringOutcome,
    SessionData,
    enrich,
    featurize,
)

__all__ = [
    "COEFFICIENT_TOLERANCE",
    "PROBABILITY_TOLERANCE",
    "ReferenceModel",
    "check_outcome",
]

PROBABILITY_TOLERANCE = 0.005
"""How far an answer may be from the reference's probability (scikit-learn's fit stops at
its own tolerance; the gaps seen are about 0.0003)."""
COEFFICIENT_TOLERANCE = 0.01
"""How far a model's coefficients may be from the reference's."""
AGREEMENT = 0.9
"""The least share of answers that must side with the session's own rule."""


@attrs.frozen(eq=False)
class ReferenceModel:
    """A logistic regression with scikit-learn's default penalty (L2, C=1, the intercept
    not penalized), fitted by Newton's method to convergence."""

    coefficients: np.ndarray
    intercept: float

    @classmethod
    def fit(cls, features: list[list[float]], labels: list[int]) -> ReferenceModel:
        """The model that minimises the penalized log-loss of ``labels`` given ``features``."""
        design = np.hstack([np.asarray(features, dtype=float), np.ones((len(features), 1))])
        targets = np.asarray(labels, dtype=float)
        penalty = np.ones(design.shape[1])
        penalty[-1] = 0.0
        beta = np.zeros(design.shape[1])
        for _ in range(100):
            chance = 1.0 / (1.0 + np.exp(-design @ beta))
            gradient = design.T @ (chance - targets) + penalty * beta
            hessian = (design.T * (chance * (1.0 - chance))) @ design + np.diag(penalty)
            step = np.linalg.solve(hessian, gradient)
            beta -= step
            if np.max(np.abs(step)) < 1e-12:
                break
        return cls(beta[:-1], float(beta[-1]))

    def probabilities(self, features: list[list[float]]) -> np.ndarray:
        """The probability of label 1 for each row of ``features``."""
        margin = np.asarray(features, dtype=float) @ self.coefficients + self.intercept
        chance: np.ndarray = 1.0 / (1.0 + np.exp(-margin))
        return chance


@attrs.frozen
class _Session:
    """What the checks know of a session: its data, its reference model, and each
    well-formed record's features and reference probability."""

    data: SessionData
    reference: ReferenceModel
    features: dict[str, list[float]]
    probability: dict[str, float]

    @classmethod
    def of(cls, data: SessionData) -> _Session:
        reference = ReferenceModel.fit([featurize(record) for record in data.history], data.labels)
        features = {
            record["id"]: featurize(enrich(record))
            for record in data.records
            if record["id"] not in data.malformed
        }
        answers = map(float, reference.probabilities(list(features.values())))
        return cls(data, reference, features, dict(zip(features, answers, strict=True)))


def check_outcome(data: ScoringData, outcome: ScoringOutcome) -> list[Check]:
    """The invariants of a mode's outcome."""
    sessions = {session.name: _Session.of(session) for session in data.sessions}
    checks = [
        _one_model_each(sessions, outcome),
        _own_model_answers(sessions, outcome),
        _answers_as_data_says(sessions, outcome),
        _every_record_once(sessions, outcome),
        _routed_by_confidence(outcome),
    ]
    if outcome.kill is not None:
        checks.append(_killed_worker(sessions, outcome))
    return checks


def _one_model_each(sessions: dict[str, _Session], outcome: ScoringOutcome) -> Check:
    """Each session's model found exactly once, fitted to its own history; where there are
    enough places (workers) for one each, no two sessions share one."""
    name = "both models present, each held once, fit to its own data"
    problems, placed, widest = [], [], 0.0
    for session_name, session in sessions.items():
        found = [model for model in outcome.models if model.session == session_name]
        if len(found) != 1:
            problems.append(f"{session_name}'s model found {len(found)} times")
            continue
        model = found[0]
        gap = _largest_gap([*model.coefficients, model.intercept], session.reference)
        widest = max(widest, gap)
        if gap > COEFFICIENT_TOLERANCE:
            problems.append(f"{session_name}'s model is {gap:.3f} off its history's fit")
        placed.append(f"{session_name} in {model.holder}")
    holders = Counter(model.holder for model in outcome.models)
    if len(set(outcome.places)) >= len(sessions) and any(count > 1 for count in holders.values()):
        problems.append(f"two models share a place: {dict(holders)}")
    if problems:
        return check(name, False, "; ".join(problems))
    return check(
        name,
        True,
        f"{', '.join(placed)}; each within {widest:.4f} of a reference fit of its own history",
    )


def _largest_gap(parameters: list[float], reference: ReferenceModel) -> float:
    expected = [*map(float, reference.coefficients), reference.intercept]
    if len(parameters) != len(expected):
        return float("inf")
    return max(abs(got - want) for got, want in zip(parameters, expected, strict=True))


def _own_model_answers(sessions: dict[str, _Session], outcome: ScoringOutcome) -> Check:
    """Every answer came from the session's own model (as the probability shows), in the
    place that holds it."""
    name = "every record scored by its own session's model"
    holder_of = {model.session: model.holder for model in outcome.models}
    total, widest, wrong = 0, 0.0, []
    for session_name, session in sessions.items():
        scored = outcome.sessions[session_name].scored if session_name in outcome.sessions else []
        for one in scored:
            total += 1
            expected = session.probability.get(one.record_id)
            gap = abs(one.probability - expected) if expected is not None else float("inf")
            widest = max(widest, gap) if expected is not None else widest
            elsewhere = session_name in holder_of and one.holder != holder_of[session_name]
            if gap > PROBABILITY_TOLERANCE or one.model != session_name or elsewhere:
                wrong.append((session_name, one, expected))
    if wrong:
        session_name, one, expected = wrong[0]
        by = Counter(session_name for session_name, _, _ in wrong)
        counts = ", ".join(f"{count:,} of {session_name}'s" for session_name, count in by.items())
        reference = "none" if expected is None else f"{expected:.3f}"
        return check(
            name,
            False,
            f"{counts} records answered otherwise, e.g. {one.record_id}: {one.probability:.3f} "
            f"by {one.model}'s model in {one.holder} (its own model says {reference})",
        )
    return check(
        name,
        True,
        f"{total:,} of {total:,} records, each by its session's model where it lives "
        f"(largest gap to the reference fit {widest:.4f})",
    )


def _answers_as_data_says(sessions: dict[str, _Session], outcome: ScoringOutcome) -> Check:
    """Each session's answers side with its own shop's rule, also where the other shop's
    rule says the opposite: the two models disagree where their data do."""
    name = "each model answers as its own data says"
    parts, passed = [], True
    for session_name, session in sessions.items():
        others = [other.data.rule for other in sessions.values() if other is not session]
        scored = outcome.sessions[session_name].scored if session_name in outcome.sessions else []
        agree = contested = agree_contested = 0
        for one in scored:
            features = session.features.get(one.record_id)
            if features is None:
                continue
            own = session.data.rule.says(features)
            answer = 1 if one.probability >= 0.5 else 0
            agree += answer == own
            if any(rule.says(features) != own for rule in others):
                contested += 1
                agree_contested += answer == own
        share, contested_share = agree / max(len(scored), 1), agree_contested / max(contested, 1)
        passed = passed and bool(scored) and share >= AGREEMENT and contested_share >= AGREEMENT
        parts.append(
            f"{session_name} {share:.1%} as its rule says ({contested_share:.1%} of the "
            f"{contested:,} where the other's says otherwise)"
        )
    return check(name, passed, "; ".join(parts))


def _every_record_once(sessions: dict[str, _Session], outcome: ScoringOutcome) -> Check:
    """Per session: scored + rejected = records, each record once, and the rejected are
    exactly the malformed ones."""
    name = "outputs + errors = inputs, each record once"
    parts, passed = [], True
    for session_name, session in sessions.items():
        result = outcome.sessions.get(session_name)
        scored = [one.record_id for one in result.scored] if result else []
        rejected = [one.record_id for one in result.rejected] if result else []
        inputs = [record["id"] for record in session.data.records]
        once = Counter(scored + rejected) == Counter(inputs)
        exact = set(rejected) == session.data.malformed
        passed = passed and once and exact
        summary = f"{session_name} {len(scored):,} scored + {len(rejected):,} errors"
        parts.append(
            f"{summary} = {len(inputs):,} records"
            if once
            else f"{summary} for {len(inputs):,} records, not each once"
        )
        if not exact:
            malformed = len(session.data.malformed)
            parts.append(f"{session_name}'s errors are not its {malformed} malformed records")
    if passed:
        parts.append("the errors are exactly the malformed records")
    return check(name, passed, "; ".join(parts))


def _routed_by_confidence(outcome: ScoringOutcome) -> Check:
    """Every scored record is in the bucket its confidence says."""
    name = f"routed by confidence (>= {HIGH} high, < {LOW} low)"
    buckets: Counter[str] = Counter()
    misplaced: list[Scored] = []
    for result in outcome.sessions.values():
        for one in result.scored:
            confidence = max(one.probability, 1.0 - one.probability)
            expected = "high" if confidence >= HIGH else "low" if confidence < LOW else "medium"
            buckets[one.bucket] += 1
            if one.bucket != expected:
                misplaced.append(one)
    counts = ", ".join(f"{bucket} {buckets[bucket]:,}" for bucket in ("high", "medium", "low"))
    if misplaced:
        one = misplaced[0]
        return check(
            name,
            False,
            f"{len(misplaced):,} misplaced, e.g. {one.record_id} "
            f"({one.probability:.3f}) in {one.bucket}",
        )
    return check(name, True, counts)


def _killed_worker(sessions: dict[str, _Session], outcome: ScoringOutcome) -> Check:
    """The victim's call raised `SessionLost`, and nothing of it was answered, before or
    after its binding was forgotten; the survivor answered with its own model, or, if its
    model lived in the killed worker too, lost its session as well."""
    name = "a killed worker gives SessionLost, never another model's answer"
    kill = outcome.kill
    assert kill is not None
    holders = {model.session: model.holder for model in outcome.models}
    shared = holders.get(kill.survivor) == kill.killed
    held = f"{kill.victim}'s and {kill.survivor}'s models" if shared else f"{kill.victim}'s model"
    text = f"killed {kill.killed}, which held {held}"
    if kill.victim_answers:
        answered = kill.victim_answers[0]
        return check(
            name,
            False,
            f"{text}; {kill.victim} still got {len(kill.victim_answers)} answers, e.g. "
            f"{answered.record_id} by {answered.model}'s model in {answered.holder}",
        )
    lost = _type_of(kill.lost) == "SessionLost"
    text += f"; {kill.victim}'s next call raised {_type_of(kill.lost)}"
    text += f", and once bound afresh: {kill.after_end_session or 'no error'}"
    if shared:
        survived = _type_of(kill.survivor_lost) == "SessionLost" and not kill.survivor_answers
        text += f"; {kill.survivor}'s raised {_type_of(kill.survivor_lost)}"
    else:
        survivor = sessions[kill.survivor]
        own = [
            one
            for one in kill.survivor_answers
            if one.model == kill.survivor
            and abs(one.probability - survivor.probability.get(one.record_id, float("inf")))
            <= PROBABILITY_TOLERANCE
        ]
        survived = bool(own) and len(own) == len(kill.survivor_answers)
        text += (
            f"; {kill.survivor} answered {len(own)} of {len(kill.survivor_answers)} records "
            "with its own model"
        )
        if kill.survivor_lost is not None:
            text += f" (its call raised {kill.survivor_lost})"
    passed = lost and kill.after_end_session is not None and survived
    return check(name, passed, text)


def _type_of(error: str | None) -> str:
    """The type of an error described as ``"Type: message"``; "nothing" for None."""
    return "nothing" if error is None else error.split(":", 1)[0]
