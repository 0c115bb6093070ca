"""Demo: a pipe over 36 short reviews, one of them poisoned, sorted by mood.

Three stages, each a supervised actor reading a bounded inbox:

- ``normalise`` (local, in the parent) lowercases each text and strips its punctuation; a
  blank text is skipped on purpose, and the poisoned one (``None``) fails, so the stage's
  policy sends it out through the dead-letter output ``rejected``;
- ``score`` (worker) counts words and scores sentiment in two worker processes, in batches
  of 8;
- ``mood`` (router) sends each scored text to ``positive``, ``negative`` or ``neutral``.

Every input item ends in one output or one error record. Pipe telemetry counts the spans of
each stage and what reached each output.
"""

from __future__ import annotations

import collections
import string
from typing import Any

import slither_actors as sa

TARGETS = "slither_actors.examples.demo_text"

TEXTS: list[Any] = [
    "Great coffee, friendly staff!",
    "The train was late again.",
    "I bought a new umbrella today.",
    "Lovely walk by the river.",
    "Awful service and cold soup.",
    "The meeting moved to Thursday.",
    "Excellent book, I love the ending",
    "My phone is broken AND slow.",
    "We painted the fence green.",
    "Happy to see fresh bread again",
    "The neighbours are noisy and rude",
    None,  # the poisoned text
    "A good, fast delivery.",
    "I hate waiting in the rain",
    "The library opens at nine.",
    "Friendly people, great food.",
    "Bad weather ruined the picnic.",
    "   ",  # blank: skipped
    "Fresh fruit at the market.",
    "The bus was slow and cold",
    "Tea or coffee after lunch?",
    "What a lovely, happy day",
    "The printer is broken again!",
    "He reads the paper on Sundays.",
    "Good music, great company",
    "Rude driver, late bus.",
    "The shop closes at six",
    "I love this excellent cake",
    "Awful traffic on the bridge.",
    "The cat sleeps on the sofa.",
    "Fast service and friendly smiles",
    "Bad coffee, noisy room",
    "Our flight leaves at noon.",
    "Happy birthday, have a great one!",
    "I hate slow internet.",
    "Socks come in pairs.",
]

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalise(item: sa.Item, ctx: sa.Context) -> Any:
    """Lowercase the text and drop its punctuation; a blank one is skipped."""
    if not isinstance(item.payload, str):
        raise TypeError(f"expected a text, got {type(item.payload).__name__}")
    words = item.payload.translate(_PUNCTUATION).lower().split()
    if not words:
        return sa.SkipItem("blank text")
    return " ".join(words)


class TextAnalysis(sa.Pipe):
    stages = [
        sa.LocalStage("normalise", normalise),
        # All the input is at hand, so every batch is full but the last, which leaves when
        # the input ends; the long linger only keeps a slow machine from cutting batches short.
        sa.WorkerStage(
            "score", module=TARGETS, function="analyse", pool="text", batch_size=8, linger=1.0
        ),
        sa.RouterStage(
            "mood",
            [
                (lambda item: item.payload["score"] > 0, "positive"),
                (lambda item: item.payload["score"] < 0, "negative"),
                (lambda item: True, "neutral"),
            ],
        ),
    ]
    outputs = ["positive", "negative", "neutral", "rejected"]
    on_error = {"normalise": sa.ToOutput("rejected"), "*": "halt"}


PIPE_EVENTS = [("slither", "pipe", "run", "stop"), ("slither", "pipe", "stage", "stop")]


def describe(item: sa.Item) -> str:
    """A scored text as the demo prints it."""
    return f"{item.payload['text']!r} ({item.payload['score']:+.2f})"


def print_telemetry(seen: list[sa.telemetry.Event]) -> None:
    """One line: how many spans each stage emitted, and the run's counts on ``stop`` (an
    output no item reached has no count)."""
    stages = collections.Counter(event.metadata["stage"] for event in seen if "stage" in event.name)
    (run,) = [event for event in seen if "run" in event.name]
    counts = [
        f"{output}={run.measurements[f'output.{output}']}"
        for output in TextAnalysis.output_names
        if f"output.{output}" in run.measurements
    ]
    spans = ", ".join(f"{stage.name} {stages[stage.name]}" for stage in TextAnalysis.stages)
    errors = run.measurements["errors"]
    print(f"telemetry: stage spans {spans}; run stop {' '.join(counts)} errors={errors}")


async def demo(runtime: sa.Runtime) -> None:
    """Run the texts through the pipe and print what came out where."""
    print(f"\n{len(TEXTS)} texts, one poisoned (None), one blank: normalise -> score -> mood")
    with sa.telemetry.capture(PIPE_EVENTS) as seen:
        result = await sa.run_pipe(TextAnalysis, TEXTS, session_id="text-analysis")
    for output in ("positive", "negative", "neutral"):
        items = result[output]
        examples = ", ".join(describe(item) for item in items[:2])
        print(f"  {output:<9} {len(items):>2}  e.g. {examples}")
    print(f"  default   {len(result['default']):>2}")
    rejected = result["rejected"]
    reasons = [
        f"{item.payload!r} at {item.meta['stage']}: {item.meta['error']}" for item in rejected
    ]
    print(f"  rejected  {len(rejected):>2}  {', '.join(reasons)}")
    print("error records:")
    for record in result.errors:
        kind = "skipped" if record.skipped else "failed"
        print(f"  {record.stage} {record.item.payload!r}: {record.reason} ({kind})")
    print_telemetry(seen)


def main() -> None:
    """Run the demo in a fresh runtime with a two-worker pool."""
    settings = sa.Settings(pools=(sa.PoolSettings(name="text", size=2, preload=(TARGETS,)),))
    sa.run(demo, settings=settings)
