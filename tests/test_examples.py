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


async def test_the_examples_module_lists_the_demos_one_line_each() -> None:
    output = await output_of("-m", "slither_actors.examples")
    lines = output.splitlines()[1:]
    names = [line.split()[0] for line in lines]
    assert names == [
        "text_analysis",
        "batch_stats",
        "data_etl",
        "ml_scoring",
        "image_pipeline",
        "supervision",
        "workers",
    ]
    assert "rest_for_one" in output and "broadcast" in output


async def test_the_workers_demo_shows_a_crash_a_timeout_and_a_broadcast() -> None:
    output = await output_of("-m", "slither_actors.examples", "workers")
    assert "square [8, 9, 10, 11] -> [64, 81, 100, 121]" in output
    assert "WorkerCrashed: worker running slither_actors.examples.demo_workers:crash" in output
    assert "CallTimeout: call to slither_actors.examples.demo_workers:stall" in output
    assert "shout -> ['HELLO', 'POOL']" in output
    assert output.count("{'worker': ") == 2  # the broadcast reached both workers


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
        b"unknown demo nope; choose from text_analysis, batch_stats, data_etl, ml_scoring, "
        b"image_pipeline, supervision, workers"
        in result.stderr
    )


async def test_the_quick_start_runs() -> None:
    output = await output_of("examples/quickstart.py")
    assert output.splitlines() == [
        "counter is at 5",
        "the call failed: Counter does not understand 'explode'",
        "after the restart the counter is at 0",
    ]
