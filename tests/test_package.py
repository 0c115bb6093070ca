"""The package surface: every public name resolves, and worker processes stay light."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import slither_actors as sa

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_resolves() -> None:
    missing = [name for name in sa.__all__ if getattr(sa, name, None) is None]
    assert missing == []
    assert set(sa.__all__) <= set(dir(sa))


def test_worker_processes_import_no_trio_cattrs_or_actor_core() -> None:
    """Workers import slither_actors.worker and the protocol at start-up; keeping trio and
    the actor machinery out is what lets a pool be ready in well under a second."""
    code = (
        "import sys, slither_actors.worker, slither_actors._pool.protocol;"
        "print(sorted(m for m in ('trio', 'cattrs', 'slither_actors._core') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def names_type_checkers_see() -> dict[str, str]:
    """The names the package's ``if TYPE_CHECKING:`` block imports, with their modules."""
    tree = ast.parse((ROOT / "slither_actors" / "__init__.py").read_text())
    seen: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "_typing.TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    assert alias.asname == alias.name  # a re-export: `X as X`
                    module = statement.module
                    if module == "slither_actors":  # a public submodule
                        module = f"slither_actors.{alias.name}"
                    seen[alias.name] = module
    return seen


def test_type_checkers_see_exactly_the_public_names_from_their_homes() -> None:
    assert names_type_checkers_see() == sa._HOMES
    assert sa.__all__ == sorted(sa._HOMES)


def test_no_helper_of_the_package_shows_as_a_public_name() -> None:
    for name in sa.__all__:
        getattr(sa, name)  # every public name loaded, every submodule it needs imported
    submodules = {
        name for name in dir(sa) if isinstance(getattr(sa, name, None), type(sys))
    }
    extra = {name for name in dir(sa) if not name.startswith("_")} - set(sa.__all__) - submodules
    assert extra == set()
    for leaked in ("Any", "TYPE_CHECKING", "annotations", "importlib", "logging"):
        assert not hasattr(sa, leaked), leaked


def test_mypy_rejects_an_unknown_name_and_types_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mypy import api

    (tmp_path / "uses.py").write_text(
        "import slither_actors as sa\n"
        "settings: int = sa.PoolSettings()\n"  # an error only if PoolSettings is not Any
        "sa.PoolSetings\n"  # a typo
    )
    monkeypatch.setenv("MYPYPATH", str(ROOT))  # the package as it is here, not as installed
    report, _, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            str(tmp_path / "uses.py"),
        ]
    )
    assert status == 1
    lines = [line for line in report.splitlines() if "uses.py" in line]
    assert any('has type "PoolSettings", variable has type "int"' in line for line in lines)
    assert any('has no attribute "PoolSetings"' in line for line in lines)
    assert len(lines) == 2, report


def import_graph() -> dict[str, set[str]]:
    """Which package modules each module imports, type-only imports included; the top
    package is left out (it imports everything, lazily, for type checkers only)."""
    package = ROOT / "slither_actors"
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if name == "slither_actors":
            continue
        graph[name] = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            and node.module is not None
            and node.module.startswith("slither_actors.")
        }
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    # Even for types only: such a circle (store's directory, store and views used to be
    # one) means neither module can be read, or tested, without the other.
    graph = import_graph()
    circles = []
    for start in graph:
        seen, stack = set(), [start]
        while stack:
            module = stack.pop()
            for imported in graph.get(module, ()):
                if imported == start:
                    circles.append(start)
                elif imported not in seen:
                    seen.add(imported)
                    stack.append(imported)
    assert sorted(set(circles)) == []
