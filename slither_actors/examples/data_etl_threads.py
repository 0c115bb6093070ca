"""The ``data_etl`` demo in plain Python threads: the two baselines.

The schema lives in a shared object with two attributes, ``version`` and ``rules``, and a
flipper thread changes both while the phase 3 rows are validated. Each thread takes a
slice of the rows and works through it in batches of 100: parse, read the schema,
validate, write the audit entries, transform, sort into valid and invalid.

- safe: the schema is read and written under a lock, both attributes at once; the audit
  trail is appended under that lock; each thread counts its validations and sorts its rows
  on its own, and they are merged at the end.
- unsafe: the natural naive code. The schema is read as two attribute reads and written as
  two assignments, so a reader can get one version's number with another's rules; every
  thread adds to one shared validation counter and appends to shared lists, unlocked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from slither_actors.examples._workload import run_in_threads, split
from slither_actors.examples.data_etl_rows import EtlData, EtlOutcome, parse_line, transform_row
from slither_actors.examples.data_etl_work import judge, rules_of

__all__ = ["BATCH_SIZE", "threaded"]

BATCH_SIZE = 100


@attrs.define
class _SharedSchema:
    version: int
    rules: dict[str, Any]


@attrs.define
class _Baseline:
    """The state the threads share in one baseline run."""

    safe: bool
    schema: _SharedSchema = attrs.Factory(lambda: _SharedSchema(1, rules_of(1)))
    lock: threading.Lock = attrs.Factory(threading.Lock)
    outcome: EtlOutcome = attrs.Factory(EtlOutcome)

    def set_schema(self, version: int) -> None:
        """Put schema ``version`` in force: a reload between phases, or a flip."""
        rules = rules_of(version)
        if self.safe:
            with self.lock:
                self.schema = _SharedSchema(version, rules)
        else:
            self.schema.version = version
            self.schema.rules = rules

    def read_schema(self) -> tuple[int, dict[str, Any]]:
        """The schema in force, as the version and its rules."""
        if self.safe:
            with self.lock:
                return self.schema.version, self.schema.rules
        version = self.schema.version
        rules = self.schema.rules
        return version, rules

    def audited(self) -> int:
        """How many audit entries have been written so far."""
        return len(self.outcome.audit)

    def work(self, lines: Sequence[str], thread: str) -> EtlOutcome:
        """One thread's slice of a phase, batch by batch; what it made of it (safe mode: the
        unsafe one puts everything straight into the shared outcome)."""
        mine = EtlOutcome() if self.safe else self.outcome
        counted = 0
        for start in range(0, len(lines), BATCH_SIZE):
            rows = [parse_line(line) for line in lines[start : start + BATCH_SIZE]]
            version, rules = self.read_schema()
            judged = judge(rows, version, rules)
            entries = [
                {"id": row["id"], "version": version, "valid": row["valid"]} for row in judged
            ]
            if self.safe:
                counted += len(judged)
                with self.lock:
                    self.outcome.audit.extend(entries)
            else:
                shared = self.outcome
                for entry in entries:
                    shared.validations["shared"] = shared.validations.get("shared", 0) + 1
                    shared.audit.append(entry)
            for row in judged:
                (mine.valid if row["valid"] else mine.invalid).append(transform_row(row))
        if self.safe:
            mine.validations[thread] = counted
        return mine

    def flip(self, first: int, flips: int, rows: int, done: threading.Event) -> None:
        """Flip the schema up to ``flips`` times while the phase runs, each time another
        ``rows // (flips + 1)`` rows have been audited, so the flips spread over the phase;
        stop once ``done`` is set: the rows are all through."""
        start = self.audited()
        for flip in range(1, flips + 1):
            while self.audited() - start < flip * rows // (flips + 1):
                if done.wait(0.0005):
                    return
            if done.is_set():
                return
            self.set_schema(first + flip)
            self.outcome.flips += 1


def threaded(data: EtlData, threads: int, safe: bool) -> EtlOutcome:
    """The three phases in ``threads`` threads; the run's `EtlOutcome`."""
    baseline = _Baseline(safe)
    for phase in data.phases:
        baseline.set_schema(phase.versions[0])
        flips = len(phase.versions) - 1
        done = threading.Event()
        flipper = threading.Thread(
            target=baseline.flip, args=(phase.versions[0], flips, len(phase.lines), done)
        )
        if flips:
            flipper.start()
        try:
            slices = split(phase.lines, threads)
            parts = run_in_threads(
                [
                    _part(baseline, lines, f"thread {number + 1}")
                    for number, lines in enumerate(slices)
                ]
            )
        finally:
            done.set()
            if flips:
                flipper.join()
        if safe:
            for part in parts:
                baseline.outcome.valid.extend(part.valid)
                baseline.outcome.invalid.extend(part.invalid)
                for thread, count in part.validations.items():
                    baseline.outcome.validations[thread] = (
                        baseline.outcome.validations.get(thread, 0) + count
                    )
    return baseline.outcome


def _part(baseline: _Baseline, lines: Sequence[str], thread: str) -> Callable[[], EtlOutcome]:
    return lambda: baseline.work(lines, thread)
