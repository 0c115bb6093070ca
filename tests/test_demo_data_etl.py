"""The data_etl demo: it runs and passes from the command line, and each of its checks fails
when the invariant it guards is broken."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from slither_actors.examples import data_etl_threads
from slither_actors.examples._workload import SAFE, SLITHER
from slither_actors.examples.data_etl import WORKLOAD
from slither_actors.examples.data_etl_rows import EtlData, EtlOutcome, make_data
from slither_actors.examples.data_etl_threads import threaded
from slither_actors.examples.data_etl_work import rules_of
from tests import demo_runs
from tests.demo_runs import small_run

CHECKS = [
    "every row has one fate",
    "schema reloads took effect",
    "one schema snapshot per row",
    "validations = audit entries = rows",
    "invalid share per phase as designed",
]


@pytest.fixture(scope="module")
def data() -> EtlData:
    return make_data("small")


@pytest.fixture
def outcome(data: EtlData) -> EtlOutcome:
    """A correct run to break: the safe baseline's, which takes a few milliseconds."""
    return threaded(data, 2, True)


def verdicts(data: EtlData, outcome: EtlOutcome) -> dict[str, bool]:
    return {one.name: one.passed for one in WORKLOAD.check(data, outcome)}


def failed(data: EtlData, outcome: EtlOutcome) -> list[str]:
    return [name for name, passed in verdicts(data, outcome).items() if not passed]


async def test_the_demo_runs_from_the_command_line_and_every_check_passes() -> None:
    runs = await small_run("data_etl")
    for mode in (SLITHER, SAFE):
        assert demo_runs.verdicts(runs[mode]) == dict.fromkeys(CHECKS, True), mode
    assert 0 < runs[SLITHER]["figures"]["schema flips in flight"] <= 20


def test_a_correct_run_passes_every_check(data: EtlData, outcome: EtlOutcome) -> None:
    assert verdicts(data, outcome) == dict.fromkeys(CHECKS, True)


def test_a_lost_row_fails_one_fate(data: EtlData, outcome: EtlOutcome) -> None:
    outcome.valid.pop()
    assert "every row has one fate" in failed(data, outcome)


def test_a_row_in_two_outputs_fails_one_fate(data: EtlData, outcome: EtlOutcome) -> None:
    outcome.invalid.append({**outcome.valid[0], "valid": False})
    assert "every row has one fate" in failed(data, outcome)


def test_a_row_the_data_does_not_have_fails_one_fate(data: EtlData, outcome: EtlOutcome) -> None:
    outcome.valid.append({**outcome.valid[0], "id": data.rows + 1})
    assert failed(data, outcome) == ["every row has one fate"]


def test_a_missed_reload_fails_the_reload_check_and_the_phase_shares(
    data: EtlData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phase 2 reload never happens: its rows are judged, consistently, by v1."""
    set_schema = data_etl_threads._Baseline.set_schema

    def without_v2(self: Any, version: int) -> None:
        if version != 2:
            set_schema(self, version)

    monkeypatch.setattr(data_etl_threads._Baseline, "set_schema", without_v2)
    assert failed(data, threaded(data, 2, True)) == [
        "schema reloads took effect",
        "invalid share per phase as designed",
    ]


def test_a_torn_schema_read_fails_one_snapshot_per_row(
    data: EtlData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each phase 3 batch reads the version, then the rules after a flip: the read that two
    separate reads of a changing schema can make."""
    read_schema = data_etl_threads._Baseline.read_schema

    def torn(self: Any) -> tuple[int, dict[str, Any]]:
        version, rules = read_schema(self)
        return (version, rules_of(version + 1)) if version >= 3 else (version, rules)

    monkeypatch.setattr(data_etl_threads._Baseline, "read_schema", torn)
    assert failed(data, threaded(data, 2, True)) == ["one schema snapshot per row"]


def test_a_verdict_under_another_version_fails_one_snapshot_per_row(
    data: EtlData, outcome: EtlOutcome
) -> None:
    flipped = next(
        row
        for row in outcome.invalid
        if 3 <= row["version"] < 23 and row["problems"][0].startswith("currency")
    )
    flipped["version"] += 1  # the number of the next version, with the rules of this one
    assert failed(data, outcome) == ["one schema snapshot per row"]


def test_a_missing_audit_entry_fails_the_audit_count(data: EtlData, outcome: EtlOutcome) -> None:
    outcome.audit.pop()
    assert failed(data, outcome) == ["validations = audit entries = rows"]


def test_a_row_audited_twice_in_place_of_another_fails_the_audit_count(
    data: EtlData, outcome: EtlOutcome
) -> None:
    outcome.audit[-1] = dict(outcome.audit[0])
    assert failed(data, outcome) == ["validations = audit entries = rows"]


def test_a_lost_validation_count_fails_the_audit_count(data: EtlData, outcome: EtlOutcome) -> None:
    thread = next(iter(outcome.validations))
    outcome.validations[thread] -= 1  # a read-modify-write that lost an update
    assert failed(data, outcome) == ["validations = audit entries = rows"]


def test_a_share_off_its_design_fails_the_share_check(data: EtlData, outcome: EtlOutcome) -> None:
    first, *others = data.phases
    redesigned = attrs.evolve(data, phases=(attrs.evolve(first, designed_invalid=0.14), *others))
    assert failed(redesigned, outcome) == ["invalid share per phase as designed"]
    assert "phase 1 10.0% (14%)" in WORKLOAD.check(redesigned, outcome)[-1].detail
