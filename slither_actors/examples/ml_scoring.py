"""Demo: two sessions train two scikit-learn models at once, each in its own worker, then
score 2,000 records each; a worker killed afterwards shows `SessionLost`.

Each session is a shop whose customer history says the opposite of the other's (see
`ml_scoring_data`), so a record answered by the wrong model gets the wrong answer. The pool
has ``affinity="strict"``: a session's first call binds it to one worker, its model is
trained there, and every later call of the session goes there. The two sessions start at
once, so the second is bound to another worker than the first.

Per session, the first call trains the model; then a pipe scores the session's records:

- ``enrich`` (local, in the parent) checks each record and joins its plan's price; a
  malformed record fails there and ends in the run's errors;
- ``featurize`` (worker) turns a record into the model's five features;
- ``predict`` (worker) scores them with the session's model, in the worker holding it;
- ``route`` (router) sends each to ``high`` (confidence >= 0.9), ``low`` (< 0.6) or
  ``medium``.

Then a broadcast asks every worker which models it holds, and a last phase kills the
worker holding one session's model: that session's next call raises `SessionLost` (never an
answer from another model), while the other session still answers with its own.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import trio

import slither_actors as sa
from slither_actors.examples._workload import Options, Workload
from slither_actors.examples.ml_scoring_checks import check_outcome
from slither_actors.examples.ml_scoring_data import (
    HIGH,
    LOW,
    KillReport,
    ModelFound,
    Rejected,
    Scored,
    ScoringData,
    ScoringOutcome,
    SessionData,
    SessionOutcome,
    enrich,
    featurize,
    make_data,
)

__all__ = [
    "WORKLOAD",
    "Scoring",
    "find_models",
    "kill_one_session",
    "kill_worker",
    "score_sessions",
]

WORK = "slither_actors.examples.ml_scoring_work"
POOL = "models"
PROBES = 8  # records each session scores in the kill phase


def enrich_record(item: sa.Item, ctx: sa.Context) -> dict[str, Any]:
    """The record checked and joined with its plan's price (`ValueError` if malformed)."""
    return enrich(item.payload)


class Scoring(sa.Pipe):
    """A session's records: enrich in the parent, featurize and predict in the worker
    holding the session's model, route by confidence."""

    stages = [
        sa.LocalStage("enrich", enrich_record),
        sa.WorkerStage(
            "featurize", module=WORK, function="featurize_records", pool=POOL, batch_size=64
        ),
        sa.WorkerStage("predict", module=WORK, function="predict", pool=POOL, batch_size=64),
        sa.RouterStage(
            "route",
            [
                (lambda item: item.payload["confidence"] >= HIGH, "high"),
                (lambda item: item.payload["confidence"] < LOW, "low"),
                (lambda item: True, "medium"),
            ],
        ),
    ]
    outputs = ["high", "medium", "low"]
    # A malformed record ends in the errors; a failure anywhere else stops the run.
    on_error = {"enrich": "skip", "*": "halt"}


def settings(options: Options) -> sa.Settings:
    """One strict pool: a session's calls go to the worker holding its model, or fail."""
    models = sa.PoolSettings(
        name=POOL,
        size=options.workers,
        preload=(WORK,),  # scikit-learn is imported as each worker starts
        affinity="strict",
        startup_timeout=60.0,  # that import takes seconds on a busy machine
        env={"OMP_NUM_THREADS": "1"},  # one core per worker: the pool is the parallelism
    )
    return sa.Settings(pools=(models,))


async def score_sessions(
    runtime: sa.Runtime, data: ScoringData, options: Options
) -> ScoringOutcome:
    """Train and score both sessions at once, find where the models live, then kill one."""
    pool = await runtime.pool(POOL)
    results: dict[str, sa.PipeResult] = {}

    async def serve(session: SessionData) -> None:
        # The session's first call binds it to a worker, which keeps its model. Both
        # sessions make theirs at once, so the second finds the first's worker busy and is
        # bound to another (the least loaded).
        await pool.call(f"{WORK}:train", [session.training_set()], session_id=session.name)
        results[session.name] = await sa.run_pipe(
            Scoring, session.records, session_id=session.name, progress=options.bar(session.name)
        )

    async with trio.open_nursery() as nursery:
        for session in data.sessions:
            nursery.start_soon(serve, session)
    models, places, pids = await find_models(pool)
    kill = await kill_one_session(pool, data, pids)
    for session in data.sessions:
        pool.end_session(session.name)
    outcomes = {name: _session_outcome(result) for name, result in results.items()}
    return ScoringOutcome(outcomes, models, places, kill)


async def find_models(pool: sa.WorkerPool) -> tuple[list[ModelFound], list[str], dict[str, int]]:
    """Ask every worker which models it holds: the models found, the workers asked, and
    the pid of the worker holding each session's model."""
    models, places, pids = [], [], {}
    for reply in await pool.broadcast(f"{WORK}:inventory"):
        if reply.error is not None:
            raise reply.error
        places.append(reply.value["holder"])
        for model in reply.value["models"]:
            models.append(ModelFound(holder=reply.value["holder"], **model))
            pids[model["session"]] = reply.pid
    return models, places, pids


async def kill_one_session(
    pool: sa.WorkerPool, data: ScoringData, pids: dict[str, int]
) -> KillReport:
    """Kill the worker holding the first session's model, then ask both sessions to score
    a few records, and the first once more after forgetting its binding."""
    victim, survivor = data.sessions
    pid = pids[victim.name]
    slot = next(info.worker_id for info in pool.workers() if info.pid == pid)
    await kill_worker(pid)
    victim_answers, lost = await _ask(pool, victim)
    survivor_answers, survivor_lost = await _ask(pool, survivor)
    # Forgotten, the session is bound afresh, to a worker that holds no model for it.
    pool.end_session(victim.name)
    later_answers, after_end_session = await _ask(pool, victim)
    return KillReport(
        victim=victim.name,
        survivor=survivor.name,
        killed=f"worker {slot} pid {pid}",
        lost=lost,
        victim_answers=victim_answers + later_answers,
        survivor_lost=survivor_lost,
        survivor_answers=survivor_answers,
        after_end_session=after_end_session,
    )


async def kill_worker(pid: int) -> None:
    """Kill the worker process ``pid`` with SIGKILL, as a crash would end it, and wait until
    its pool has seen it go (its ``exited`` event comes once the pool has let it go)."""
    gone = trio.Event()

    def on_exit(event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        if metadata["pid"] == pid:
            gone.set()

    handler_id = f"ml_scoring-kill-{pid}"
    sa.telemetry.attach(handler_id, [("slither", "worker", "exited")], on_exit)
    try:
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(10):  # the pool sees it at once; this only bounds the wait
            await gone.wait()
    finally:
        sa.telemetry.detach(handler_id)


async def _ask(pool: sa.WorkerPool, session: SessionData) -> tuple[list[Scored], str | None]:
    """The session's first records scored, or, if the call failed, why."""
    try:
        answers = await pool.call(f"{WORK}:predict", _probe_rows(session), session_id=session.name)
    except sa.SessionLost as error:
        return [], f"SessionLost: {error}"
    except sa.WorkerError as error:
        return [], f"{error.remote_type}: {error.remote_message}"
    return [_scored(answer, "probe") for answer in answers], None


def _probe_rows(session: SessionData) -> list[dict[str, Any]]:
    """The session's first well-formed records, featurized."""
    clean = [record for record in session.records if record["id"] not in session.malformed]
    return [
        {"id": record["id"], "features": featurize(enrich(record))} for record in clean[:PROBES]
    ]


def _scored(answer: dict[str, Any], bucket: str) -> Scored:
    """A worker's answer for a record, as it ended in ``bucket``."""
    return Scored(answer["id"], bucket, answer["probability"], answer["model"], answer["holder"])


def _session_outcome(result: sa.PipeResult) -> SessionOutcome:
    """What the pipe did with a session's records: every output, and the errors."""
    scored = [
        _scored(item.payload, output) for output, items in result.outputs.items() for item in items
    ]
    rejected = [Rejected(record.item.payload["id"], record.reason) for record in result.errors]
    return SessionOutcome(scored, rejected)


def threaded(data: ScoringData, threads: int, safe: bool) -> ScoringOutcome:
    """The threaded baselines (see `ml_scoring_threads`)."""
    from slither_actors.examples.ml_scoring_threads import run_threaded

    return run_threaded(data, threads, safe)


def prepared_data(size: str) -> ScoringData:
    """The data. scikit-learn is imported here too, before any mode's clock starts: the
    baselines run it in this process, and it would be a second of their time, while the
    workers import it as they start, which is reported apart."""
    import slither_actors.examples.ml_scoring_threads  # noqa: F401

    return make_data(size)


WORKLOAD = Workload(
    name="ml_scoring",
    summary="two sessions train two scikit-learn models in their own workers, then score "
    "2,000 records each, routed by confidence; a killed worker gives SessionLost",
    make_data=prepared_data,
    settings=settings,
    slither=score_sessions,
    threaded=threaded,
    check=check_outcome,
    count=lambda data: sum(len(session.records) for session in data.sessions),
    stages=tuple(stage.name for stage in Scoring.stages),
)
