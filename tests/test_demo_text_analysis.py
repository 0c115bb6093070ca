"""The text_analysis demo: it runs from the command line with every invariant met, its
workers keep their counts per session, and each of its checks fails when its invariant is
broken."""

from __future__ import annotations

import attrs
import pytest
import trio

import slither_actors as sa
from slither_actors.examples._workload import Check, Options
from slither_actors.examples.text_analysis import (
    WORKLOAD,
    Corpus,
    Outcome,
    analyze_with_slither,
)
from tests import demo_runs
from tests.demo_runs import small_run

INVARIANTS = [
    "outputs + errors = inputs",
    "each document counted once",
    "word index = sequential count",
    "classified by sentiment",
]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    corpus: Corpus = WORKLOAD.make_data("small")
    return corpus


@pytest.fixture(scope="module")
def sound(corpus: Corpus) -> Outcome:
    """A correct outcome, from the safe baseline, for the checks to judge once broken."""
    outcome: Outcome = WORKLOAD.threaded(corpus, 2, True)
    return outcome


def verdicts(checks: list[Check]) -> dict[str, bool]:
    return {one.name: one.passed for one in checks}


def only_failing(corpus: Corpus, outcome: Outcome) -> list[str]:
    checks = WORKLOAD.check(corpus, outcome)
    return [name for name, passed in verdicts(checks).items() if not passed]


async def test_the_demo_runs_from_the_command_line_and_meets_every_invariant() -> None:
    runs = await small_run("text_analysis")
    for mode in ("slither_actors", "safe_python"):
        passed = demo_runs.verdicts(runs[mode])
        assert {name: passed[name] for name in INVARIANTS} == dict.fromkeys(INVARIANTS, True)
    counted = demo_runs.details(runs["slither_actors"])
    # The broadcast reached both workers, whether or not both analysed documents.
    assert "worker 1 (" in counted["each document counted once"]
    assert "worker 2 (" in counted["each document counted once"]
    assert 1 <= runs["slither_actors"]["figures"]["stopword view calls"] <= 2


async def test_workers_read_the_stopwords_once_per_session_and_forget_it_once_gathered(
    corpus: Corpus,
) -> None:
    options = Options("small", 2)
    with trio.fail_after(30):
        async with sa.open_runtime(WORKLOAD.settings(options)) as runtime:
            first = await analyze_with_slither(runtime, corpus, options)
            second = await analyze_with_slither(runtime, corpus, options)
    for outcome in (first, second):
        assert all(verdicts(WORKLOAD.check(corpus, outcome)).values())
        assert sum(outcome.document_counts.values()) == len(corpus.documents)
        analysed_by = sum(1 for count in outcome.document_counts.values() if count)
        assert outcome.stopword_reads == analysed_by
    # Each run is a session of its own: the second counts from zero, not on top of the first.
    assert first.index == second.index


def test_a_document_lost_or_delivered_twice_fails_the_accounting(
    corpus: Corpus, sound: Outcome
) -> None:
    lost = attrs.evolve(sound, outputs={**sound.outputs, "neutral": sound.outputs["neutral"][1:]})
    # A lost document is in no output at all, so it is not in the one its sentiment picks.
    assert only_failing(corpus, lost) == ["outputs + errors = inputs", "classified by sentiment"]
    twice = [*sound.outputs["positive"], sound.outputs["negative"][0]]
    doubled = attrs.evolve(sound, outputs={**sound.outputs, "positive": twice})
    assert only_failing(corpus, doubled) == ["outputs + errors = inputs"]


def test_a_document_counted_twice_or_a_worker_left_out_fails_the_count(
    corpus: Corpus, sound: Outcome
) -> None:
    first, *others = sound.document_counts
    twice = attrs.evolve(
        sound, document_counts={**sound.document_counts, first: sound.document_counts[first] + 1}
    )
    assert only_failing(corpus, twice) == ["each document counted once"]
    left_out = attrs.evolve(
        sound, document_counts={name: sound.document_counts[name] for name in others}
    )
    assert only_failing(corpus, left_out) == ["each document counted once"]


def test_an_index_that_lost_one_increment_fails_the_sequential_count(
    corpus: Corpus, sound: Outcome
) -> None:
    word = next(iter(sound.index))
    racy = attrs.evolve(sound, index={**sound.index, word: sound.index[word] - 1})
    assert only_failing(corpus, racy) == ["word index = sequential count"]
    with_stopwords = attrs.evolve(sound, index={**sound.index, "the": 1})
    assert only_failing(corpus, with_stopwords) == ["word index = sequential count"]


def test_a_document_in_the_wrong_output_fails_the_classification(
    corpus: Corpus, sound: Outcome
) -> None:
    moved, *kept = sound.outputs["positive"]
    swapped = {**sound.outputs, "positive": kept, "neutral": [*sound.outputs["neutral"], moved]}
    assert only_failing(corpus, attrs.evolve(sound, outputs=swapped)) == ["classified by sentiment"]
