"""Demo: 5,000 documents through prepare -> analyze -> classify, with a word index counted
in worker processes and merged from every one of them.

- The stopwords are a `Store` in the parent. Workers read them through the store's session
  view ``stopwords``, which the pipe registers for its run (``stores = [Stopwords]``); each
  worker reads them once per session and keeps them with that session's counts.
- ``prepare`` (local, in the parent) lowercases each document and strips its punctuation.
- ``analyze`` (worker, batches of 50) scores each document and adds its words to a word
  index and a document count that its worker process keeps for the run's session.
- ``classify`` (router) sends it to ``positive`` (sentiment above 0.15), ``negative`` (below
  -0.15) or ``neutral``.

When the run is over, a broadcast gathers the session's counts from *every* worker, so the
checks see them all: each document counted once over all the workers, every input in one
output or error record, the merged index equal to a sequential count, and each document in
the output its sentiment picks. The baselines do the same in threads: ``safe_python`` with
an index per thread merged at the end, ``unsafe_threaded`` with one shared dict and one
shared counter updated by plain read-modify-write.
"""

from __future__ import annotations

import functools
import random
import re
import string
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

import slither_actors as sa
from slither_actors.examples._workload import (
    Check,
    Options,
    Workload,
    check,
    run_in_threads,
    split,
)
from slither_actors.examples.text_analysis_work import (
    NEGATIVE,
    POSITIVE,
    content_words,
    sentiment,
)

__all__ = [
    "WORKLOAD",
    "Corpus",
    "Outcome",
    "Stopwords",
    "TextAnalysis",
    "analyze_in_threads",
    "analyze_with_slither",
    "check_outcome",
    "make_corpus",
    "reference",
]

WORK = "slither_actors.examples.text_analysis_work"
POOL = "text"
THRESHOLD = 0.15
"""Sentiment above it is positive, below minus it negative, neutral otherwise."""
MOODS = ("positive", "negative", "neutral")
DOCUMENTS = {"small": 500, "full": 5_000}
SEED = 13

STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "for", "from", "had",
        "has", "have", "he", "her", "his", "i", "in", "is", "it", "its", "of", "on", "or",
        "our", "she", "so", "that", "the", "their", "them", "they", "this", "to", "too", "very",
        "was", "we", "were", "with", "you"
    }
)
NEUTRAL = (
    "airport", "apple", "bag", "bakery", "bench", "bicycle", "bottle", "bread", "bridge", "bus",
    "cabin", "camera", "car", "chair", "city", "clock", "coffee", "concert", "corner", "cousin",
    "desk", "dinner", "door", "engine", "evening", "farm", "fence", "ferry", "field", "film",
    "floor", "flower", "forest", "garden", "gate", "glass", "guitar", "hall", "harbour", "hat",
    "hill", "hotel", "house", "island", "jacket", "kitchen", "lake", "lamp", "letter",
    "library", "lunch", "map", "market", "meeting", "menu", "morning", "mountain", "museum",
    "neighbour", "night", "office", "orange", "paper", "park", "path", "phone", "piano",
    "picture", "plate", "platform", "printer", "radio", "rain", "river", "road", "roof", "room",
    "school", "shop", "shoe", "sofa", "station", "street", "table", "tea", "ticket", "town",
    "train", "tree", "umbrella", "village", "wall", "watch", "water", "weather", "window",
    "winter"
)

_PUNCTUATION = str.maketrans("", "", string.punctuation)


@attrs.frozen
class Corpus:
    """The documents, numbered by their position, and the stopwords the analysis drops."""

    documents: list[str]
    stopwords: frozenset[str]


@attrs.frozen
class Outcome:
    """What a run of any mode produced, in one shape for the checks.

    ``outputs`` and ``errors`` hold document numbers; ``document_counts`` the documents each
    counter counted: each worker's or thread's own, or the one counter all threads share.
    ``stopword_reads`` is how many times workers called the stopwords view (slither only).
    """

    outputs: dict[str, list[int]]
    errors: list[int]
    index: dict[str, int]
    document_counts: dict[str, int]
    stopword_reads: int | None = None


def make_corpus(size: str) -> Corpus:
    """The seeded documents: 16 to 65 words each, from a fixed vocabulary, some leaning
    positive, some negative, some neither, in sentences with capitals and punctuation."""
    rng = random.Random(SEED)
    return Corpus([_document(rng) for _ in range(DOCUMENTS[size])], STOPWORDS)


# In a fixed order, so that the seed alone decides the documents.
_STOPWORDS, _POSITIVE, _NEGATIVE = sorted(STOPWORDS), sorted(POSITIVE), sorted(NEGATIVE)


def _document(rng: random.Random) -> str:
    leaning = rng.choice((_POSITIVE, _NEGATIVE, NEUTRAL))
    vocabularies = (_STOPWORDS, _POSITIVE, _NEGATIVE, leaning, NEUTRAL)
    words = [
        rng.choice(rng.choices(vocabularies, weights=(33, 7, 7, 19, 34))[0])
        for _ in range(rng.randint(16, 65))
    ]
    sentences, start = [], 0
    while start < len(words):
        end = start + rng.randint(5, 12)
        sentence = words[start:end]
        if len(sentence) > 4 and rng.random() < 0.3:
            sentence[2] += ","
        sentences.append(" ".join(sentence).capitalize() + rng.choice(".!?"))
        start = end
    return " ".join(sentences)


class Stopwords(sa.Store):
    """The words the analysis drops, owned by the parent; workers read them through the
    ``stopwords`` view of the session they work for."""

    tables = (sa.Table("stopwords", "set"),)

    async def load(self, tables: Any) -> None:
        """Fill the table from the fixed list (a file or a database, in real life)."""
        tables["stopwords"].put_many((word, True) for word in STOPWORDS)

    @sa.view(scope="session")
    def stopwords(self, params: dict[str, Any], ctx: sa.Context) -> list[str]:
        """Every stopword, sorted."""
        return sorted(self.keys("stopwords"))


def prepare_text(text: str) -> str:
    """The text lowercased, without punctuation, one space between words."""
    return " ".join(text.lower().translate(_PUNCTUATION).split())


def prepare(item: sa.Item, ctx: sa.Context) -> dict[str, Any]:
    """The ``prepare`` stage: the document with its text prepared for the workers."""
    return {"id": item.payload["id"], "text": prepare_text(item.payload["text"])}


def mood(score: float) -> str:
    """The output a sentiment score picks, as the ``classify`` router decides it."""
    return "positive" if score > THRESHOLD else "negative" if score < -THRESHOLD else "neutral"


class TextAnalysis(sa.Pipe):
    """prepare (parent) -> analyze (workers, batches of 50) -> classify (router)."""

    stages = [
        sa.LocalStage("prepare", prepare),
        sa.WorkerStage("analyze", module=WORK, function="analyze", pool=POOL, batch_size=50),
        sa.RouterStage(
            "classify",
            [
                (lambda item: item.payload["sentiment"] > THRESHOLD, "positive"),
                (lambda item: item.payload["sentiment"] < -THRESHOLD, "negative"),
                (lambda item: True, "neutral"),
            ],
        ),
    ]
    outputs = list(MOODS)
    stores = [Stopwords]
    on_error = {"*": "skip"}  # a failed document ends in an error record; the run goes on


def settings(options: Options) -> sa.Settings:
    """The stopwords store, and a pool of ``options.workers`` workers with the worker
    module preloaded."""
    return sa.Settings(
        stores=("slither_actors.examples.text_analysis:Stopwords",),
        pools=(sa.PoolSettings(name=POOL, size=options.workers, preload=(WORK,)),),
    )


async def analyze_with_slither(runtime: sa.Runtime, corpus: Corpus, options: Options) -> Outcome:
    """Run the corpus through `TextAnalysis` in a session of its own, then gather that
    session's counts from every worker with a broadcast, and end the session."""
    session_id = f"text_analysis-{uuid.uuid4().hex[:12]}"
    documents = [{"id": number, "text": text} for number, text in enumerate(corpus.documents)]
    with sa.telemetry.capture([("slither", "bridge", "view", "stop")]) as view_calls:
        result = await sa.run_pipe(
            TextAnalysis, documents, session_id=session_id, progress=options.bar("documents")
        )
    pool = await runtime.pool(POOL)
    try:
        replies = await pool.broadcast(f"{WORK}:collect", session_id)
    finally:
        pool.end_session(session_id)
    document_counts: dict[str, int] = {}
    index: Counter[str] = Counter()
    for reply in replies:
        if reply.error is not None:
            raise reply.error
        document_counts[f"worker {reply.worker_id}"] = reply.value["documents"]
        index.update(reply.value["index"])
    return Outcome(
        outputs={
            name: [item.payload["id"] for item in result[name]]
            for name in TextAnalysis.output_names
        },
        errors=[record.item.payload["id"] for record in result.errors],
        index=dict(index),
        document_counts=document_counts,
        stopword_reads=len(view_calls),
    )


def analyze_in_threads(corpus: Corpus, threads: int, safe: bool) -> Outcome:
    """The same analysis in ``threads`` threads, each over a slice of the documents: with
    counts of their own merged at the end (``safe``), or with shared ones."""
    parts = split(list(enumerate(corpus.documents)), threads)
    analyze = _with_own_counts if safe else _with_shared_counts
    return analyze(corpus.stopwords, parts)


def _with_own_counts(stopwords: frozenset[str], parts: list[Sequence[tuple[int, str]]]) -> Outcome:
    """safe_python: each thread keeps its own index, document count and outputs; they are
    merged once every thread has ended, so no two threads ever write the same object."""

    def analyze_part(
        part: Sequence[tuple[int, str]],
    ) -> tuple[Counter[str], int, dict[str, list[int]]]:
        index: Counter[str] = Counter()
        documents = 0
        outputs: dict[str, list[int]] = {name: [] for name in MOODS}
        for number, text in part:
            words = content_words(prepare_text(text), stopwords)
            index.update(words)
            documents += 1
            outputs[mood(sentiment(words))].append(number)
        return index, documents, outputs

    merged: Counter[str] = Counter()
    document_counts: dict[str, int] = {}
    outputs: dict[str, list[int]] = {name: [] for name in MOODS}
    tallies = run_in_threads([functools.partial(analyze_part, part) for part in parts])
    for thread, (index, documents, part_outputs) in enumerate(tallies, start=1):
        merged.update(index)
        document_counts[f"thread {thread}"] = documents
        for name, numbers in part_outputs.items():
            outputs[name].extend(numbers)
    return Outcome(outputs, [], dict(merged), document_counts)


def _with_shared_counts(
    stopwords: frozenset[str], parts: list[Sequence[tuple[int, str]]]
) -> Outcome:
    """unsafe_threaded: every thread updates one dict index and one document counter with
    plain read-modify-write, so two threads can read the same count and lose an update."""
    index: dict[str, int] = {}
    totals = {"documents": 0}
    outputs: dict[str, list[int]] = {name: [] for name in MOODS}

    def analyze_part(part: Sequence[tuple[int, str]]) -> None:
        for number, text in part:
            words = content_words(prepare_text(text), stopwords)
            for word in words:
                index[word] = index.get(word, 0) + 1
            totals["documents"] += 1
            outputs[mood(sentiment(words))].append(number)

    run_in_threads([functools.partial(analyze_part, part) for part in parts])
    return Outcome(outputs, [], index, {"one shared counter": totals["documents"]})


def reference(corpus: Corpus) -> tuple[Counter[str], dict[int, str]]:
    """The word index and each document's mood, counted sequentially by code written apart
    from the programs it judges (its own tokenizer, a regular expression)."""
    index: Counter[str] = Counter()
    moods: dict[int, str] = {}
    for number, text in enumerate(corpus.documents):
        tokens = re.findall(r"[a-z]+", text.lower())
        words = [word for word in tokens if word not in corpus.stopwords]
        index.update(words)
        positive = len([word for word in words if word in POSITIVE])
        negative = len([word for word in words if word in NEGATIVE])
        score = (positive - negative) / len(words) if words else 0.0
        moods[number] = (
            "positive" if score > THRESHOLD else "negative" if score < -THRESHOLD else "neutral"
        )
    return index, moods


def check_outcome(corpus: Corpus, outcome: Outcome) -> list[Check]:
    """The invariants, the same for every mode."""
    expected_index, expected_moods = reference(corpus)
    total = len(corpus.documents)
    return [
        _every_input_accounted(total, outcome),
        _each_document_counted_once(total, outcome),
        _index_as_counted_sequentially(expected_index, outcome),
        _classified_by_sentiment(expected_moods, outcome),
    ]


def _every_input_accounted(total: int, outcome: Outcome) -> Check:
    ended = Counter(number for numbers in outcome.outputs.values() for number in numbers)
    ended.update(outcome.errors)
    missing = sum(1 for number in range(total) if number not in ended)
    repeated = sum(1 for times in ended.values() if times > 1)
    strays = sum(1 for number in ended if not 0 <= number < total)
    parts = [f"{len(numbers):,} {name}" for name, numbers in outcome.outputs.items() if numbers]
    detail = f"{total:,} in = {' + '.join(parts or ['0 out'])} + {len(outcome.errors):,} errors"
    if missing or repeated or strays:
        detail += f"; {missing:,} missing, {repeated:,} in two places, {strays:,} unknown"
    return check("outputs + errors = inputs", not (missing or repeated or strays), detail)


def _each_document_counted_once(total: int, outcome: Outcome) -> Check:
    counted = sum(outcome.document_counts.values())
    counters = " + ".join(f"{name} ({count:,})" for name, count in outcome.document_counts.items())
    detail = f"{counted:,} counted for {total:,} documents, over {counters or 'no counter'}"
    return check("each document counted once", counted == total, detail)


def _index_as_counted_sequentially(expected: Counter[str], outcome: Outcome) -> Check:
    words_seen = expected.keys() | outcome.index.keys()
    differing = sum(1 for word in words_seen if expected[word] != outcome.index.get(word, 0))
    indexed, words = sum(outcome.index.values()), expected.total()
    detail = (
        f"{indexed:,} words indexed ({len(outcome.index)} distinct), "
        f"{words:,} counted sequentially"
    )
    if differing:
        detail += f"; {differing} words differ"
    return check("word index = sequential count", differing == 0, detail)


def _classified_by_sentiment(expected: dict[int, str], outcome: Outcome) -> Check:
    placed = {number: name for name, numbers in outcome.outputs.items() for number in numbers}
    right = sum(1 for number, name in expected.items() if placed.get(number) == name)
    detail = (
        f"{right:,} of {len(expected):,} in the output their sentiment picks "
        f"(> {THRESHOLD} positive, < -{THRESHOLD} negative, else neutral)"
    )
    return check("classified by sentiment", right == len(expected), detail)


def figures(corpus: Corpus, outcome: Outcome) -> dict[str, Any]:
    """The index's size and, for slither_actors, how often workers read the stopwords."""
    shown: dict[str, Any] = {"distinct words": len(outcome.index)}
    if outcome.stopword_reads is not None:
        shown["stopword view calls"] = outcome.stopword_reads
    return shown


WORKLOAD = Workload(
    name="text_analysis",
    summary="5,000 documents: stopwords in a Store read by workers through a view, "
    "prepare -> analyze -> classify, word index merged from every worker",
    make_data=make_corpus,
    settings=settings,
    slither=analyze_with_slither,
    threaded=analyze_in_threads,
    check=check_outcome,
    count=lambda corpus: len(corpus.documents),
    figures=figures,
    stages=("prepare", "analyze", "classify"),
)
