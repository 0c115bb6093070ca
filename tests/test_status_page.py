"""The status page in a real headless browser (Debian's chromium): what it draws, as DOM
and as pixels, from a fixed /status and from a real service.

.ci/run installs chromium; without it these tests skip, unless SLITHER_REQUIRE_BROWSER=1
(set by CI) makes its absence a failure.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import attrs
import pytest
import trio
from PIL import Image

import slither_actors as sa
from slither_actors import telemetry
from slither_actors._status._page import PAGE
from tests.status_samples import NODE_PATHS, SNAPSHOT, Answer, serving

BROWSER_TIMEOUT = 40  # seconds for one chromium run; it takes about 2 on an idle machine
WINDOW = (1200, 900)
COLOURS = {"running": (47, 158, 68), "restarting": (240, 140, 0), "stopped": (134, 142, 150)}


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("SLITHER_REQUIRE_BROWSER") == "1":
            pytest.fail("SLITHER_REQUIRE_BROWSER=1 but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    return found


def browser_command(chromium: str, profile: Path, *action: str) -> list[str]:
    """Chromium, headless and offline, running the page's script for 3 s of virtual time."""
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=3000", *action,
    ]  # fmt: skip


def dump_dom(chromium: str, tmp_path: Path, url: str) -> str:
    command = browser_command(chromium, tmp_path / "profile", "--dump-dom", url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done.stdout


@attrs.define
class PageText(html.parser.HTMLParser):
    """The tree's nodes (path to state), every tag seen, and each element's text by id."""

    nodes: dict[str, str] = attrs.Factory(dict)
    tags: set[str] = attrs.Factory(set)
    by_id: dict[str, str] = attrs.Factory(dict)
    body_classes: str = ""
    text: list[str] = attrs.Factory(list)
    _open_id: str | None = None

    def __attrs_post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attributes)
        if values.get("class") == "node":
            self.nodes[values["data-node"] or ""] = values["data-state"] or ""
        if tag == "body":
            self.body_classes = values.get("class") or ""
        self._open_id = values.get("id")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open_id is not None:
            self.by_id[self._open_id] = self.by_id.get(self._open_id, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._open_id = None


def parse(dom: str) -> PageText:
    page = PageText()
    page.feed(dom)
    return page


def nodes_of(tree: dict[str, Any], path: str = "") -> dict[str, str]:
    here = f"{path}/{tree['id']}" if path else tree["id"]
    found = {here: tree["state"]}
    for child in tree["children"]:
        found.update(nodes_of(child, here))
    return found


def fixed(status: Answer, requests: list[str] | None = None) -> Callable[[str], Answer]:
    """Answers: the page at /, ``status`` at /status (noting each request in ``requests``)."""

    def answer(path: str) -> Answer:
        if path == "/status":
            if requests is not None:
                requests.append(path)
            return status
        if path == "/":
            return 200, "text/html; charset=utf-8", PAGE.encode()
        return 404, "text/plain", b"not found"

    return answer


SNAPSHOT_ANSWER = (200, "application/json", json.dumps(SNAPSHOT).encode())


def test_the_page_draws_every_node_with_its_state_and_every_queue(
    chromium: str, tmp_path: Path
) -> None:
    requests: list[str] = []
    with serving(fixed(SNAPSHOT_ANSWER, requests)) as address:
        page = parse(dump_dom(chromium, tmp_path, f"http://{address}/"))
    assert page.nodes == nodes_of(SNAPSHOT["tree"])
    assert list(page.nodes) == NODE_PATHS
    text = " ".join(page.text)
    for fact in ("↻ 2", "12/16", "last exit: RuntimeError('boom')", "↻ 1",
                 "last exit: WorkerCrashed('was killed by signal SIGKILL')",
                 "pool default", "4242", "busy", "130", "31.5", "4243", "idle",
                 "pipe etl", "12/256", "200/256", "1,180", "236.4", "3 errors",
                 "features", "users", "scores"):  # fmt: skip
        assert fact in text, fact
    assert page.by_id["facts"] == "pid 12345 · up 1h 2m 5s"
    assert page.by_id["refreshed"].startswith("refreshed ")
    assert page.by_id["link"] == "live" and "disconnected" not in page.body_classes
    # Names and reasons from user code are text: no <b> or second <script> was made.
    assert "<b>evil</b>" in text and "last exit: <script>alert(1)</script>" in text
    assert "b" not in page.tags
    assert len(requests) >= 2, "the page refreshes itself"


def test_the_page_says_disconnected_and_keeps_asking_when_status_fails(
    chromium: str, tmp_path: Path
) -> None:
    requests: list[str] = []
    with serving(fixed((503, "text/plain", b"down"), requests)) as address:
        page = parse(dump_dom(chromium, tmp_path, f"http://{address}/"))
    assert page.by_id["link"] == "disconnected"
    assert "disconnected" in page.body_classes
    assert page.nodes == {}
    assert len(requests) >= 2, "the page keeps asking"


def test_the_screenshot_shows_the_tree_in_its_state_colours(
    chromium: str, tmp_path: Path
) -> None:
    picture = tmp_path / "page.png"
    with serving(fixed(SNAPSHOT_ANSWER)) as address:
        command = browser_command(
            chromium, tmp_path / "profile", f"--screenshot={picture}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", f"http://{address}/",
        )  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
    assert done.returncode == 0, done.stderr
    with Image.open(picture) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB").getcolors(WINDOW[0] * WINDOW[1]) or []
    counts = {cast(tuple[int, int, int], colour): count for count, colour in pixels}
    drawn = sum(count for colour, count in counts.items() if colour != (255, 255, 255))
    assert drawn > 0.04 * WINDOW[0] * WINDOW[1], f"only {drawn} pixels are not background"
    for state, colour in COLOURS.items():
        near = sum(count for other, count in counts.items() if close(other, colour))
        # A node's edge and its state badge: a few hundred pixels each.
        assert near > 200, f"{state} ({colour}) covers {near} pixels"


def close(colour: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 6 for a, b in zip(colour, wanted, strict=True))


@attrs.define
class Fragile(sa.Actor):
    """Crashes on any cast."""

    async def handle_cast(self, message: Any) -> None:
        raise RuntimeError("fragile broke")


async def test_the_page_of_a_real_service_shows_a_crashed_actor_restarted(
    chromium: str, tmp_path: Path
) -> None:
    fragile = sa.ChildSpec.actor("fragile", Fragile, name="fragile")
    settings = {"status": {"address": "127.0.0.1:0"}}
    restarted = trio.Event()

    def on_restart(event: Any, measurements: Any, metadata: Any, config: Any) -> None:
        if metadata["child"] == "fragile":
            restarted.set()

    restart_event = ("slither", "supervisor", "child", "restarted")
    telemetry.attach("status page: fragile restarted", [restart_event], on_restart)
    try:
        async with sa.open_runtime(settings, children=[fragile]) as runtime:
            (url,) = runtime.status_urls
            await runtime.registry.lookup("fragile").cast("break")
            with trio.fail_after(10):
                await restarted.wait()
            command = browser_command(chromium, tmp_path / "profile", "--dump-dom", url + "/")
            with trio.fail_after(BROWSER_TIMEOUT):
                done = await trio.run_process(command, capture_stdout=True, capture_stderr=True)
    finally:
        telemetry.detach("status page: fragile restarted")
    page = parse(done.stdout.decode())
    for path in ("runtime", "runtime/stores", "runtime/pools", "runtime/services",
                 "runtime/status", "runtime/fragile"):  # fmt: skip
        assert page.nodes.get(path) == "running", (path, page.nodes)
    text = " ".join(page.text)
    assert "↻ 1" in text and "last exit: RuntimeError('fragile broke')" in text
    assert "0/64" in text  # its mailbox, empty, and its bound
    assert page.by_id["link"] == "live"
