"""``top``: a running service's status drawn in the terminal from its /status JSON."""

from __future__ import annotations

import io
import json
import math
import sys
import time
from typing import Any

import pytest
from rich.console import Console

from slither_actors._status._top import render, run_top
from tests.status_samples import SNAPSHOT, Answer, serving


def console(**options: Any) -> Console:
    return Console(file=io.StringIO(), width=120, color_system=None, **options)


def text_of(screen: Console) -> str:
    file = screen.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def snapshot_answer(path: str) -> Answer:
    if path == "/status":
        return 200, "application/json", json.dumps(SNAPSHOT).encode()
    return 404, "text/plain", b"not found"


def test_render_shows_the_tree_the_workers_the_stages_and_the_stores() -> None:
    screen = console()
    screen.print(render(SNAPSHOT))
    text = text_of(screen)
    for node_id in ("runtime", "services", "pipe etl", "counter", "pool default"):
        assert f"● {node_id}  " in text
    assert "score  task  restarting  ↻ 1" in text
    assert "counter  actor  running  ↻ 2" in text
    assert "last exit: RuntimeError('boom')" in text
    assert "12/16" in text  # the counter's mailbox
    assert "pid 12345" in text and "up 1h 2m 5s" in text
    lines = text.splitlines()
    busy = next(line for line in lines if "4242" in line)
    assert "busy" in busy and "130" in busy and "31.5" in busy
    idle = next(line for line in lines if "4243" in line)
    assert "idle" in idle and "128" in idle
    score = next(line for line in lines if "│ score" in line)
    assert "worker" in score and "200/256" in score and "1,180" in score and "236.4" in score
    assert "12/256" in next(line for line in lines if "│ parse" in line)
    assert "delivered default 1,200, 3 errors" in text
    assert "users" in text and "scores" in text


def test_render_shows_names_from_user_code_as_text_not_markup() -> None:
    screen = console()
    screen.print(render(SNAPSHOT))
    text = text_of(screen)
    assert "<b>evil</b>" in text
    assert "stopped  last exit: <script>alert(1)</script>" in text
    marked = {**SNAPSHOT, "tree": {**SNAPSHOT["tree"], "id": "[bold]root[/bold]"}}
    screen = console()
    screen.print(render(marked))
    assert "[bold]root[/bold]" in text_of(screen)


def test_run_top_once_prints_one_frame_of_the_service_it_reads() -> None:
    screen = console()
    with serving(snapshot_answer) as address:
        assert run_top(address, once=True, console=screen) == 0
    text = text_of(screen)
    assert "● counter" in text and "4242" in text and "200/256" in text


def test_run_top_once_on_an_unreachable_service_says_so_and_returns_1() -> None:
    with serving(snapshot_answer) as address:
        pass  # the port was just free, and nobody listens there now
    screen = console()
    assert run_top(address, once=True, console=screen) == 1
    text = text_of(screen)
    assert f"cannot read http://{address}/status" in text
    assert "refused" in text.lower()
    assert "trying again" not in text


def test_run_top_once_on_a_server_answering_an_error_says_so_and_returns_1() -> None:
    screen = console()
    with serving(lambda path: (500, "text/plain", b"oops")) as address:
        assert run_top(address, once=True, console=screen) == 1
    assert f"cannot read http://{address}/status: Internal Server Error" in text_of(screen)


def test_run_top_keeps_trying_until_the_service_answers_and_exits_0_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [(503, "text/plain", b"starting"), snapshot_answer("/status")]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == len(answers):
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)  # top's wait between frames
    screen = console(force_terminal=True)
    with serving(lambda path: answers[min(len(sleeps), len(answers) - 1)]) as address:
        assert run_top(address, interval=0.5, console=screen) == 0
    text = text_of(screen)
    assert "Service Unavailable; trying again every 0.5s" in text
    assert "● counter" in text and "4242" in text
    assert sleeps == [0.5, 0.5]


@pytest.mark.parametrize("interval", [0, -1.0, math.nan, math.inf, "1", True, None])
def test_run_top_refuses_an_interval_that_is_not_a_positive_finite_number(
    interval: Any,
) -> None:
    with pytest.raises(ValueError, match="interval"):
        run_top("127.0.0.1:9100", interval=interval, once=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost:http", ":9100", "h:70000", 9100])
def test_run_top_refuses_an_address_that_is_not_host_and_port(address: Any) -> None:
    with pytest.raises(ValueError, match="address"):
        run_top(address, once=True)


def test_without_rich_top_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(ImportError, match=r"pip install 'slither_actors\[status\]'"):
        render(SNAPSHOT)
    with pytest.raises(ImportError, match=r"pip install 'slither_actors\[status\]'"):
        run_top("127.0.0.1:9100", once=True)
