"""Every Python block of the README and docs/ runs as a reader who pastes it would run it.

A block is a program unless an HTML comment on the line before its fence says otherwise:

- ``<!-- file: NAME -->``: the block, in any language, is a file the page's later programs
  need (a worker module, a settings file). It is saved as NAME beside them and not run; a
  Python file is tested by importing it.
- ``<!-- continues -->``: the block goes on from the page's Python block before it, as if
  pasted below it in the same file, and runs with it.

Each program runs as ``python program.py`` in a fresh directory holding the files its page
declared before it, that directory being the working directory (so worker processes find
the modules there too), and must exit with code 0 within `TIME_LIMIT` seconds. A ``print``
whose comment is a Python literal, as in ``print(total)  # 5`` or ``print(total)  # 5: all``,
must print it: the program's output holds those lines in that order (``...`` in one stands
for any text). A comment that is prose, or says a value may vary, is not checked.
"""

from __future__ import annotations

import ast
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio

from tests.test_examples import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages left out of these tests (none now; a page being written may be, for a while).
NOT_YET_CHECKED: set[Path] = set()
TIME_LIMIT = 60.0

FENCE = re.compile(r"^```(?P<language>\S*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*(?P<word>[a-z-]+)(?::\s*(?P<argument>\S+))?\s*-->\s*$")


@attrs.frozen
class Block:
    """One fenced block of a page: where it starts, its language, its text and its directive."""

    page: str
    line: int
    language: str
    text: str
    directive: str | None = None
    argument: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:line {self.line}"


@attrs.frozen
class DocCase:
    """What one Python block asks of a test: the files around it and what to run."""

    block: Block
    files: tuple[tuple[str, str], ...]
    program: str | None  # None: the block is a module, tested by importing it
    expected_lines: tuple[str, ...] = ()


def blocks_of(page: Path) -> Iterator[Block]:
    """The fenced blocks of a markdown page, each with the directive just above it."""
    name = page.relative_to(ROOT).as_posix()
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{name}:line {index + 1}: the block is never closed")
        directive = argument = None
        above = index - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        comment = DIRECTIVE.match(lines[above]) if above >= 0 else None
        if comment is not None:
            directive, argument = comment["word"], comment["argument"]
            if (directive, argument is None) not in {("file", False), ("continues", True)}:
                raise ValueError(f"{name}:line {above + 1}: unknown directive {lines[above]!r}")
        yield Block(
            page=name,
            line=index + 1,
            language=opening["language"],
            text="\n".join(lines[index + 1 : end]) + "\n",
            directive=directive,
            argument=argument,
        )
        index = end + 1


def printed_lines(program: str) -> tuple[str, ...]:
    """The output promised by the comments of ``print`` lines.

    The comment is on the print's line, or alone on the line after it. It promises a Python
    literal, the whole comment or what comes before a ``": "`` that explains it
    (``# 2: handled in order`` promises ``2``); prose (``# two dicts from one worker``)
    promises nothing.
    """
    promised = []
    lines = program.splitlines()
    for number, line in enumerate(lines):
        if not line.lstrip().startswith("print("):
            continue
        _, _, comment = line.partition("  # ")
        if not comment and number + 1 < len(lines) and lines[number + 1].lstrip().startswith("#"):
            comment = lines[number + 1].lstrip().removeprefix("#")
        literal = first_literal(comment.strip())
        if literal is not None:
            promised.append(literal)
    return tuple(promised)


def first_literal(comment: str) -> str | None:
    """The comment if it is a Python literal, else the shortest literal ending at a ": "."""
    ends = [len(comment)] + [match.start() for match in re.finditer(": ", comment)]
    for end in ends:
        try:
            ast.literal_eval(comment[:end])
        except (ValueError, SyntaxError):
            continue
        return comment[:end]
    return None


def cases_of(page: Path) -> Iterator[DocCase]:
    files: dict[str, str] = {}
    program: str | None = None
    for block in blocks_of(page):
        if block.directive == "file":
            assert block.argument is not None
            files[block.argument] = block.text
        if block.language != "python":
            continue
        if block.directive == "file":
            yield DocCase(block, tuple(files.items()), None)
            continue
        if block.directive == "continues":
            if program is None:
                raise ValueError(f"{block.where}: continues, but no program comes before it")
            program = f"{program}\n\n{block.text}"
        else:
            program = block.text
        yield DocCase(block, tuple(files.items()), program, printed_lines(program))


def all_cases() -> list[DocCase]:
    return [case for page in PAGES if page not in NOT_YET_CHECKED for case in cases_of(page)]


CASES = all_cases()


def output_holds_in_order(output: list[str], promised: tuple[str, ...]) -> str | None:
    """None if each promised line ends an output line, in order; else the first one missing.

    A promised line ends an output line after a space (``print("total", total)  # 5``), and
    ``...`` in it stands for any text.
    """
    remaining = iter(output)
    for expected in promised:
        pattern = re.compile("(?:.* )?" + ".*".join(map(re.escape, expected.split("..."))))
        if not any(pattern.fullmatch(line) for line in remaining):
            return expected
    return None


@pytest.mark.parametrize("case", CASES, ids=[case.block.where for case in CASES])
async def test_the_block_runs_as_pasted(case: DocCase, tmp_path: Path) -> None:
    for name, text in case.files:
        (tmp_path / name).write_text(text)
    if case.program is None:
        module = Path(case.block.argument or "").stem
        command = [sys.executable, "-c", f"import {module}"]
    else:
        (tmp_path / "program.py").write_text(case.program)
        command = [sys.executable, "program.py"]
    with trio.fail_after(TIME_LIMIT):
        result = await trio.run_process(
            command, cwd=tmp_path, capture_stdout=True, capture_stderr=True, check=False
        )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, (
        f"{case.block.where} exited with code {result.returncode}\n"
        f"--- stdout\n{stdout}\n--- stderr\n{stderr}"
    )
    missing = output_holds_in_order(stdout.splitlines(), case.expected_lines)
    assert missing is None, (
        f"{case.block.where} never printed {missing!r} where its comment says\n--- stdout\n{stdout}"
    )


async def test_the_long_running_pipe_of_the_pipe_page_drains_on_sigterm(tmp_path: Path) -> None:
    """`squares.py` runs under ``python -m slither_actors run`` and stops as the page says."""
    blocks = list(blocks_of(ROOT / "docs" / "pipe.md"))
    squares = next(index for index, block in enumerate(blocks) if block.argument == "squares.py")
    said = blocks[squares + 1]  # what the page says the command writes to stderr
    (tmp_path / "squares.py").write_text(blocks[squares].text)
    command = [sys.executable, "-m", "slither_actors", "run", "squares:main"]
    with trio.fail_after(TIME_LIMIT):
        process = await trio.lowlevel.open_process(
            command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        stdout = stderr = b""
        try:
            while stdout.count(b"\n") < 3 and (chunk := await process.stdout.receive_some()):
                stdout += chunk
            process.send_signal(signal.SIGTERM)
            while chunk := await process.stdout.receive_some():
                stdout += chunk
            while chunk := await process.stderr.receive_some():
                stderr += chunk
            await process.wait()
        finally:
            if process.returncode is None:  # the test failed, or ran out of time
                process.kill()
                with trio.CancelScope(shield=True):
                    await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().splitlines()[:3] == ["default 0", "default 1", "default 4"]
    expected = [re.escape(line).replace("NNN", "[0-9]+") for line in said.text.splitlines()]
    assert len(stderr.decode().splitlines()) == len(expected), stderr.decode()
    for line, pattern in zip(stderr.decode().splitlines(), expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
