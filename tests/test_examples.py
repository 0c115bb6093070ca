"""The demos and the quick start run as a newcomer would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent


async def run_python(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, *arguments],
            capture_stdout=True,
            capture_stderr=True,
            cwd=ROOT,
            check=check,
        )


async def output_of(*arguments: str) -> str:
    return (await run_python(*arguments)).stdout.decode()


async def test_the_examples_module_lists_the_demos() -> None:
    output = await output_of("-m", "slither_actors.examples")
    assert "supervision" in output and "rest_for_one" in output
    assert "workers" in output and "broadcast" in output
    assert "batch_stats" in output and "isolates" in output
    assert "text_analysis" in output and "route by mood" in output


async def test_the_workers_demo_shows_a_crash_a_timeout_and_a_broadcast() -> None:
    output = await output_of("-m", "slither_actors.examples", "workers")
    assert "square [8, 9, 10, 11] -> [64, 81, 100, 121]" in output
    assert "WorkerCrashed: worker running slither_actors.examples.demo_workers:crash" in output
    assert "CallTimeout: call to slither_actors.examples.demo_workers:stall" in output
    assert "shout -> ['HELLO', 'POOL']" in output
    assert output.count("{'worker': ") == 2  # the broadcast reached both workers


async def test_the_batch_stats_demo_isolates_the_poisoned_datasets() -> None:
    output = await output_of("-m", "slither_actors.examples", "batch_stats")
    assert "halt     DispatchError at batch " in output  # which poisoned batch: a race
    assert "skip     125 described, 75 skipped" in output
    assert "isolate  197 described, 3 skipped" in output
    assert "skipped: ds017, ds090, ds151" in output


async def test_the_text_analysis_demo_routes_by_mood_and_accounts_for_every_text() -> None:
    output = await output_of("-m", "slither_actors.examples", "text_analysis")
    assert "36 texts, one poisoned (None), one blank" in output
    assert "positive  12  e.g. 'great coffee friendly staff' (+0.50)" in output
    assert "negative  12  e.g. 'the train was late again' (-0.20)" in output
    assert "neutral   10  e.g. 'i bought a new umbrella today' (+0.00)" in output
    assert "default    0" in output
    assert "rejected   1  None at normalise: TypeError: expected a text, got NoneType" in output
    assert "normalise '   ': blank text (skipped)" in output
    # How many batches the worker stage made depends on timing (a linger may cut one short).
    assert "telemetry: stage spans normalise 36, score " in output
    assert (
        "mood 34; run stop default=0 positive=12 negative=12 neutral=10 rejected=1 errors=1"
        in output
    )


async def test_the_supervision_demo_shows_restarts_escalation_and_telemetry() -> None:
    output = await output_of("-m", "slither_actors.examples", "supervision")
    assert "'oops' -> parser crashed" in output
    assert "telemetry child.restarted  ingest/sink" in output
    assert "telemetry exhausted        ingest/parser" in output
    assert "telemetry child.restarted  services/ingest" in output
    assert "'d,4' -> ('d', '4')" in output
    assert "ingest/config 2, ingest/parser 4, ingest/sink 4, services/ingest 2" in output


async def test_an_unknown_demo_is_an_error_listing_the_known_ones() -> None:
    result = await run_python("-m", "slither_actors.examples", "nope", check=False)
    assert result.returncode == 2
    assert (
        b"unknown demo nope; choose from supervision, workers, batch_stats, text_analysis"
        in result.stderr
    )


async def test_the_quick_start_runs() -> None:
    output = await output_of("examples/quickstart.py")
    assert output.splitlines() == [
        "counter is at 5",
        "the call failed: Counter does not understand 'explode'",
        "after the restart the counter is at 0",
    ]
