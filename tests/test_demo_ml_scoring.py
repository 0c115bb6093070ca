"""The ml_scoring demo: it runs from the command line with every invariant met, each
session's model in a worker of its own and a killed worker giving `SessionLost`; and each of
its checks fails when its invariant is broken."""

from __future__ import annotations

import attrs
import pytest

from slither_actors.examples._workload import Check
from slither_actors.examples.ml_scoring import WORKLOAD
from slither_actors.examples.ml_scoring_checks import ReferenceModel
from slither_actors.examples.ml_scoring_data import (
    KillReport,
    Rejected,
    Scored,
    ScoringData,
    ScoringOutcome,
    SessionOutcome,
    enrich,
    featurize,
)
from tests.demo_runs import details as demo_details, small_run, verdicts

MODELS = "both models present, each held once, fit to its own data"
OWN_MODEL = "every record scored by its own session's model"
AS_DATA_SAYS = "each model answers as its own data says"
ACCOUNTED = "outputs + errors = inputs, each record once"
ROUTED = "routed by confidence (>= 0.9 high, < 0.6 low)"
KILLED = "a killed worker gives SessionLost, never another model's answer"
INVARIANTS = [MODELS, OWN_MODEL, AS_DATA_SAYS, ACCOUNTED, ROUTED]
NORTH, SOUTH = "shop-north", "shop-south"


@pytest.fixture(scope="module")
def data() -> ScoringData:
    made: ScoringData = WORKLOAD.make_data("small")
    return made


@pytest.fixture(scope="module")
def sound(data: ScoringData) -> ScoringOutcome:
    """A correct outcome, from the safe baseline, with a kill phase that went as it should
    (north's worker killed, south answering with its own model)."""
    outcome: ScoringOutcome = WORKLOAD.threaded(data, 2, True)
    kill = KillReport(
        victim=NORTH,
        survivor=SOUTH,
        killed="worker 1 pid 101",
        lost="SessionLost: session 'shop-north' of pool 'models' lost its worker",
        victim_answers=[],
        survivor_lost=None,
        survivor_answers=outcome.sessions[SOUTH].scored[:8],
        after_end_session="LookupError: worker 2 pid 102 holds no model for 'shop-north'",
    )
    return attrs.evolve(outcome, kill=kill)


def failing(data: ScoringData, outcome: ScoringOutcome) -> list[str]:
    checks: list[Check] = WORKLOAD.check(data, outcome)
    return [one.name for one in checks if not one.passed]


def with_session(outcome: ScoringOutcome, name: str, **changes: object) -> ScoringOutcome:
    session = attrs.evolve(outcome.sessions[name], **changes)
    return attrs.evolve(outcome, sessions={**outcome.sessions, name: session})


def answered_by(data: ScoringData, owner: str, scored: list[Scored], model_of: str) -> list[Scored]:
    """``owner``'s records as ``model_of``'s model answers them, routed accordingly."""
    other = data.session(model_of)
    model = ReferenceModel.fit([featurize(record) for record in other.history], other.labels)
    records = {record["id"]: record for record in data.session(owner).records}
    features = [featurize(enrich(records[one.record_id])) for one in scored]
    return [
        attrs.evolve(one, probability=float(chance), model=model_of, bucket=_bucket(chance))
        for one, chance in zip(scored, model.probabilities(features), strict=True)
    ]


def _bucket(probability: float) -> str:
    confidence = max(probability, 1 - probability)
    return "high" if confidence >= 0.9 else "low" if confidence < 0.6 else "medium"


async def test_the_demo_runs_from_the_command_line_and_meets_every_invariant() -> None:
    # scikit-learn's imports take seconds on a busy machine
    runs = await small_run("ml_scoring", seconds=120)
    expected = {"slither_actors": [*INVARIANTS, KILLED], "safe_python": INVARIANTS}
    for mode, names in expected.items():
        passed = verdicts(runs[mode])
        assert {name: passed[name] for name in names} == dict.fromkeys(names, True)
    details = demo_details(runs["slither_actors"])
    assert f"{NORTH} in worker " in details[MODELS]
    assert f"{SOUTH} in worker " in details[MODELS]
    assert "next call raised SessionLost" in details[KILLED]
    assert "answered 8 of 8 records with its own model" in details[KILLED]


def test_the_sound_outcome_meets_every_invariant(data: ScoringData, sound: ScoringOutcome) -> None:
    assert failing(data, sound) == []


def test_one_shared_model_for_both_sessions_fails_the_models_check(data: ScoringData) -> None:
    unsafe: ScoringOutcome = WORKLOAD.threaded(data, 2, False)
    assert MODELS in failing(data, unsafe)


def test_a_missing_or_misfit_or_shared_model_fails_the_models_check(
    data: ScoringData, sound: ScoringOutcome
) -> None:
    by_session = {model.session: model for model in sound.models}
    north, south = by_session[NORTH], by_session[SOUTH]
    missing = attrs.evolve(sound, models=[south])
    swapped = attrs.evolve(
        sound, models=[attrs.evolve(north, session=SOUTH), attrs.evolve(south, session=NORTH)]
    )
    one_worker = attrs.evolve(sound, places=["worker 1 pid 101", "worker 2 pid 102"])
    assert failing(data, missing) == [MODELS]
    assert MODELS in failing(data, swapped)
    assert failing(data, one_worker) == [MODELS]  # two workers, both models in one place


def test_a_record_answered_by_the_other_model_fails_the_own_model_check(
    data: ScoringData, sound: ScoringOutcome
) -> None:
    scored = list(sound.sessions[NORTH].scored)
    scored[5:7] = answered_by(data, NORTH, scored[5:7], SOUTH)
    assert failing(data, with_session(sound, NORTH, scored=scored)) == [OWN_MODEL]
    elsewhere = [
        attrs.evolve(scored[0], holder="worker 9 pid 1"),
        *sound.sessions[NORTH].scored[1:],
    ]
    assert failing(data, with_session(sound, NORTH, scored=elsewhere)) == [OWN_MODEL]


def test_a_model_that_answers_against_its_data_fails_the_data_check(
    data: ScoringData, sound: ScoringOutcome
) -> None:
    scored = answered_by(data, NORTH, sound.sessions[NORTH].scored, SOUTH)
    assert AS_DATA_SAYS in failing(data, with_session(sound, NORTH, scored=scored))


def test_a_lost_doubled_or_unrejected_record_fails_the_accounting_check(
    data: ScoringData, sound: ScoringOutcome
) -> None:
    north: SessionOutcome = sound.sessions[NORTH]
    lost = north.scored[1:]
    doubled = [*north.scored, north.scored[0]]
    forgiven = north.rejected[1:]
    assert failing(data, with_session(sound, NORTH, scored=lost)) == [ACCOUNTED]
    assert failing(data, with_session(sound, NORTH, scored=doubled)) == [ACCOUNTED]
    assert failing(data, with_session(sound, NORTH, rejected=forgiven)) == [ACCOUNTED]
    clean = next(one.record_id for one in north.scored)
    wrongly = [*forgiven, Rejected(clean, "ValueError: no reason")]
    without = [one for one in north.scored if one.record_id != clean]
    assert failing(data, with_session(sound, NORTH, scored=without, rejected=wrongly)) == [
        ACCOUNTED
    ]


def test_a_record_in_the_wrong_bucket_fails_the_routing_check(
    data: ScoringData, sound: ScoringOutcome
) -> None:
    scored = list(sound.sessions[SOUTH].scored)
    high = next(index for index, one in enumerate(scored) if one.bucket == "high")
    scored[high] = attrs.evolve(scored[high], bucket="low")
    assert failing(data, with_session(sound, SOUTH, scored=scored)) == [ROUTED]


def test_an_answer_after_the_kill_fails_the_kill_check(
    data: ScoringData, sound: ScoringOutcome
) -> None:
    kill = sound.kill
    assert kill is not None
    wrong_answer = answered_by(data, NORTH, sound.sessions[NORTH].scored[:1], SOUTH)
    survivor_misled = answered_by(data, SOUTH, kill.survivor_answers, NORTH)
    broken = [
        attrs.evolve(kill, lost="WorkerCrashed: worker was killed by signal SIGKILL"),
        attrs.evolve(kill, lost=None, victim_answers=wrong_answer),
        attrs.evolve(kill, after_end_session=None, victim_answers=wrong_answer),
        attrs.evolve(kill, survivor_answers=survivor_misled),
        attrs.evolve(kill, survivor_answers=[], survivor_lost="SessionLost: gone"),
    ]
    for report in broken:
        assert failing(data, attrs.evolve(sound, kill=report)) == [KILLED], report


def test_the_kill_check_expects_both_sessions_lost_when_they_shared_the_worker(
    data: ScoringData, sound: ScoringOutcome
) -> None:
    kill = sound.kill
    assert kill is not None
    # The sound outcome's two models live in one place, "this process": kill that.
    in_one = attrs.evolve(kill, killed="this process")
    both_lost = attrs.evolve(in_one, survivor_answers=[], survivor_lost="SessionLost: gone")
    assert failing(data, attrs.evolve(sound, kill=both_lost)) == []
    assert failing(data, attrs.evolve(sound, kill=in_one)) == [KILLED]
