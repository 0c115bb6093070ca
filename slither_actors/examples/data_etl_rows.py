"""The ``data_etl`` demo's rows: generated with planted defects, parsed, transformed, and the
verdict each schema version should give them.

Every row is a CSV line. A row carries at most one planted *defect*, and which schema
versions reject it follows from the defect alone (`designed_valid`): that is the reference
the checks judge a run against, written apart from the validator in ``data_etl_work``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import attrs

__all__ = [
    "ALWAYS_INVALID",
    "FLIPPING_CURRENCIES",
    "STRICT_ONLY",
    "EtlData",
    "EtlOutcome",
    "Phase",
    "designed_valid",
    "make_data",
    "parse_line",
    "transform_row",
]

ALWAYS_INVALID = ("missing_email", "age_not_a_number", "negative_amount")
"""Defects every schema version rejects."""

STRICT_ONLY = ("minor", "email_domain_without_dot", "large_amount")
"""Defects the strict versions (2 and later) reject, and version 1 lets through."""

FLIPPING_CURRENCIES = ("eur", "gbp")
"""EUR is refused by the even versions from 4 on, GBP by the odd ones from 3 on."""

FLIPS = 20


def designed_valid(defect: str | None, version: int) -> bool:
    """Whether a row with ``defect`` is valid under schema ``version``, by design."""
    if defect is None:
        return True
    if defect in ALWAYS_INVALID:
        return False
    if defect in STRICT_ONLY:
        return version == 1
    if defect == "eur":
        return version < 3 or version % 2 == 1
    if defect == "gbp":
        return version < 3 or version % 2 == 0
    raise ValueError(f"unknown defect {defect!r}")


@attrs.frozen
class Phase:
    """One phase of the run: its rows (CSV lines), the schema versions it may be judged by,
    and the share of its rows designed to be invalid."""

    name: str
    lines: tuple[str, ...]
    versions: range
    designed_invalid: float


@attrs.frozen
class EtlData:
    """The three phases, and the defect planted in each row, by row id (None: clean)."""

    phases: tuple[Phase, ...]
    defects: dict[int, str | None]

    @property
    def rows(self) -> int:
        """How many rows the phases hold together."""
        return sum(len(phase.lines) for phase in self.phases)

    def phase_of(self, row_id: int) -> Phase:
        """The phase row ``row_id`` belongs to."""
        first = 1
        for phase in self.phases:
            if row_id < first + len(phase.lines):
                return phase
            first += len(phase.lines)
        raise KeyError(row_id)


@attrs.define
class EtlOutcome:
    """What a run made of the rows, in any mode.

    ``valid``: the transformed valid rows; ``invalid``: the rows rejected, with the version
    and the problems; ``errors``: the ids of rows that ended in no output; ``validations``:
    rows validated, counted by each worker (or thread) on its own; ``audit``: the audit
    entries, ``{"id", "version", "valid"}``, one per validation; ``flips``: the schema flips
    made while phase 3 ran.
    """

    valid: list[dict[str, Any]] = attrs.Factory(list)
    invalid: list[dict[str, Any]] = attrs.Factory(list)
    errors: list[int] = attrs.Factory(list)
    validations: dict[str, int] = attrs.Factory(dict)
    audit: list[dict[str, Any]] = attrs.Factory(list)
    flips: int = 0


_FIRST = ["ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "ken", "radia", "tim"]
_LAST = ["lovelace", "hopper", "turing", "dijkstra", "liskov", "knuth", "allen", "thompson"]


def make_data(size: str) -> EtlData:
    """The rows of the three phases, seeded: 5,000 per phase at full size, 1,000 when small.

    Phase 1 (schema v1): 10 % invalid, plus 5 % that only the strict rules would reject.
    Phase 2 (v2, strict): 20 % invalid. Phase 3 (v3, then 20 flips): 10 % invalid under
    every version, and 10 % in EUR or GBP, alternately, so that about half of those are
    invalid whichever version judges them: 15 %.
    """
    per_phase = 5_000 if size == "full" else 1_000
    rng = random.Random(13)
    currencies = FLIPPING_CURRENCIES
    # Each phase: its name, its schema versions, its designed invalid share, what is planted.
    plans: list[tuple[str, range, float, dict[tuple[str, ...], float]]] = [
        ("phase 1", range(1, 2), 0.10, {ALWAYS_INVALID: 0.10, STRICT_ONLY: 0.05, currencies: 0.1}),
        ("phase 2", range(2, 3), 0.20, {ALWAYS_INVALID: 0.10, STRICT_ONLY: 0.10, currencies: 0.1}),
        ("phase 3", range(3, 4 + FLIPS), 0.15, {ALWAYS_INVALID: 0.05, STRICT_ONLY: 0.05}),
    ]
    phases: list[Phase] = []
    defects: dict[int, str | None] = {}
    next_id = 1
    for name, versions, invalid, shares in plans:
        planted = _planted(per_phase, shares, rng)
        if len(versions) > 1:
            _alternate_currencies(planted, round(per_phase * 0.10), rng)
        lines = []
        for defect in planted:
            defects[next_id] = defect
            lines.append(_line(next_id, defect, rng))
            next_id += 1
        phases.append(Phase(name, tuple(lines), versions, invalid))
    return EtlData(tuple(phases), defects)


def _planted(
    rows: int, shares: dict[tuple[str, ...], float], rng: random.Random
) -> list[str | None]:
    """``rows`` defects, shuffled: each group's share of rows, spread over its kinds."""
    planted: list[str | None] = []
    for kinds, share in shares.items():
        count = round(rows * share)
        planted.extend(kinds[number % len(kinds)] for number in range(count))
    planted.extend([None] * (rows - len(planted)))
    rng.shuffle(planted)
    return planted


def _alternate_currencies(planted: list[str | None], count: int, rng: random.Random) -> None:
    """Turn ``count`` clean rows into EUR and GBP rows, alternately in row order, so that any
    run of consecutive rows (a batch) holds as many of one as of the other, give or take one."""
    clean = [index for index, defect in enumerate(planted) if defect is None]
    chosen = sorted(rng.sample(clean, count))
    for number, index in enumerate(chosen):
        planted[index] = FLIPPING_CURRENCIES[number % 2]


def _line(row_id: int, defect: str | None, rng: random.Random) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first.title()}.{last.title()}{row_id}@Example.com"
    age: object = rng.randint(18, 90)
    amount = round(rng.uniform(1, 9_999), 2)
    currency = "USD"
    match defect:
        case "missing_email":
            email = ""
        case "age_not_a_number":
            age = rng.choice(["forty", "n/a", "?"])
        case "negative_amount":
            amount = -amount
        case "minor":
            age = rng.randint(10, 17)
        case "email_domain_without_dot":
            email = f"{first}@localhost"
        case "large_amount":
            amount = round(rng.uniform(10_001, 99_999), 2)
        case "eur" | "gbp":
            currency = defect.upper()
    return f"{row_id},{first.title()} {last.title()},{email},{age},{amount:.2f},{currency}"


def parse_line(line: str) -> dict[str, Any]:
    """A CSV line as a row: the id, age and amount as numbers where they are numbers, an
    empty field as None."""
    row_id, name, email, age, amount, currency = line.split(",")
    return {
        "id": int(row_id),
        "name": name or None,
        "email": email or None,
        "age": int(age) if age.isdigit() else (age or None),
        "amount": float(amount) if amount else None,
        "currency": currency or None,
    }


def transform_row(row: dict[str, Any]) -> dict[str, Any]:
    """A valid row as it is loaded: email in lower case, the amount in cents, and the schema
    version that passed it. An invalid row goes on as it is, problems and all."""
    if not row["valid"]:
        return row
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"].lower(),
        "age": row["age"],
        "amount_cents": round(row["amount"] * 100),
        "currency": row["currency"],
        "version": row["version"],
        "valid": True,
    }


def lines_of(data: EtlData) -> Sequence[str]:
    """Every row's line, in id order."""
    return [line for phase in data.phases for line in phase.lines]
