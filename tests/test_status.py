"""The status server: /status against a real service, its rules (read-only, loopback), the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

import slither_actors as sa
from tests.pool_helpers import process_alive

ROOT = Path(__file__).resolve().parent.parent


@attrs.define
class Fragile(sa.Actor):
    async def handle_cast(self, message: Any) -> None:
        raise RuntimeError("fragile broke")


async def slow(item: sa.Item, ctx: sa.Context) -> int:
    await trio.sleep(0.001)
    return int(item.payload)


class Doubling(sa.Pipe):
    stages = [
        sa.LocalStage("slow", slow, buffer=32),
        sa.WorkerStage("double", module="worker_functions", function="double", batch_size=4),
    ]


async def counting() -> AsyncIterator[int]:
    number = 0
    while True:
        yield number
        number += 1


async def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    """Status, content type and body of one request, made in a thread."""

    def request() -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method=method)) as reply:
                return reply.status, reply.headers["content-type"], reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["content-type"], error.read()

    return await trio.to_thread.run_sync(request)


async def status(url: str) -> dict[str, Any]:
    code, kind, body = await fetch(url + "/status")
    assert (code, kind) == (200, "application/json")
    snapshot: dict[str, Any] = json.loads(body)
    return snapshot


def nodes(tree: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    """Every node of the tree by its path."""
    here = f"{path}/{tree['id']}" if path else tree["id"]
    found = {here: tree}
    for child in tree["children"]:
        found.update(nodes(child, here))
    return found


def check_bounds(snapshot: dict[str, Any]) -> None:
    for mailbox in snapshot["mailboxes"]:
        assert 0 <= mailbox["depth"] <= mailbox["bound"], mailbox
    for pipe in snapshot["pipes"]:
        for stage in pipe["stages"]:
            assert 0 <= stage["inbox"]["depth"] <= stage["inbox"]["bound"], stage
            assert stage["in_flight"] <= 8, stage


SETTINGS = {
    "status": {"address": "127.0.0.1:0"},
    "stores": ["tests.stores_for_tests:FeatureStore"],
    "pools": [{"name": "default", "size": 2, "cwd": "tests", "preload": ["worker_functions"]}],
}


async def test_status_shows_a_running_service_its_restarts_and_bounded_queues() -> None:
    fragile = sa.ChildSpec.actor("fragile", Fragile, name="fragile")
    async with sa.open_runtime(SETTINGS, children=[fragile]) as runtime:
        (url,) = runtime.status_urls
        assert url.startswith("http://127.0.0.1:")

        async def discard(output: str, item: sa.Item) -> None:
            pass

        service = await sa.start_pipe(Doubling, counting(), discard)
        await runtime.registry.lookup("fragile").cast("break")
        pool = await runtime.pool()
        victim = pool.workers()[0]
        os.kill(victim.pid, signal.SIGKILL)

        with trio.fail_after(30):
            while True:
                snapshot = await status(url)
                check_bounds(snapshot)
                (pool_status,) = snapshot["pools"]
                by_slot = {worker["worker_id"]: worker for worker in pool_status["workers"]}
                replaced = by_slot.get(victim.worker_id)
                (pipe,) = snapshot["pipes"]
                if replaced and replaced["restarts"] and all(
                    stage["items"] > 50 for stage in pipe["stages"]
                ):
                    break
                await trio.sleep(0.05)

        assert replaced["pid"] != victim.pid and "SIGKILL" in replaced["last_exit"]
        assert replaced["state"] in ("idle", "busy") and replaced["rss_mb"] > 0
        assert pool_status["size"] == pool_status["live"] == 2
        assert 0 <= pool_status["waiting"] <= pool_status["queue_limit"] == 1000
        tree = nodes(snapshot["tree"])
        assert tree["runtime/fragile"]["restarts"] == 1
        assert tree["runtime/fragile"]["last_exit"] == "RuntimeError('fragile broke')"
        assert tree["runtime/fragile"]["mailbox"]["bound"] == 64
        assert tree["runtime/stores/store FeatureStore"]["kind"] == "store"
        assert tree["runtime/pools/pool default"]["kind"] == "pool"
        assert tree["runtime/pools/pool default/worker 1"]["kind"] == "actor"
        pipe_node = next(node for path, node in tree.items() if node["kind"] == "pipe")
        assert [stage["id"] for stage in pipe_node["children"]] == ["stage slow", "stage double"]
        assert tree["runtime"]["strategy"] == "one_for_one"
        assert pipe["name"] == "Doubling" and pipe["running"]
        assert [stage["kind"] for stage in pipe["stages"]] == ["local", "worker"]
        assert pipe["stages"][0]["inbox"]["bound"] == 32
        assert snapshot["stores"] == [
            {"name": "FeatureStore", "tables": {"features": 2, "events": 0}}
        ]
        assert {"runtime/fragile"} <= {mailbox["path"] for mailbox in snapshot["mailboxes"]}
        later = await status(url)
        assert later["pipes"][0]["stages"][0]["items_per_second"] > 0
        await service.stop(drain=False)


async def test_the_server_only_reads() -> None:
    async with sa.open_runtime({"status": {"address": "127.0.0.1:0"}}) as runtime:
        (url,) = runtime.status_urls
        code, kind, body = await fetch(url + "/")
        assert code == 200 and kind.startswith("text/html") and b"<html" in body
        code, kind, body = await fetch(url + "/metrics")
        assert code == 200 and kind.startswith("text/plain"), body
        assert b"# TYPE slither_" in body
        for method in ("POST", "PUT", "DELETE"):
            code, _, _ = await fetch(url + "/status", method)
            assert code == 405
        code, _, body = await fetch(url + "/nowhere")
        assert code == 404 and b"/status" in body
        code, _, body = await fetch(url + "/status", "HEAD")
        assert code == 200 and body == b""


async def test_a_taken_port_fails_the_runtime_start_with_the_reason() -> None:
    async with sa.open_runtime({"status": {"address": "127.0.0.1:0"}}) as runtime:
        (url,) = runtime.status_urls
        taken = url.removeprefix("http://")
        with pytest.raises(sa.ChildStartFailed, match="status") as failure:
            async with sa.open_runtime({"status": {"address": taken}}):
                pass  # pragma: no cover
        assert isinstance(failure.value.__cause__, OSError)


def test_only_a_loopback_address_unless_public_is_set() -> None:
    for address in ("0.0.0.0:9100", "[::]:9100", "192.168.1.4:80", "example.com:80"):
        with pytest.raises(ValueError, match="reachable from other machines"):
            sa.StatusSettings(address)
        assert sa.StatusSettings(address, public=True).address == address
    for address in ("127.0.0.1:9100", "127.3.2.1:1", "[::1]:9100", "localhost:0"):
        assert sa.StatusSettings(address).address == address
    for bad in ("9100", "host:", ":80", "host:99999", "host:http", ""):
        with pytest.raises(ValueError, match="address"):
            sa.StatusSettings(bad)
    with pytest.raises(sa.ConfigError, match="public = true"):
        sa.Settings.from_dict({"status": {"address": "0.0.0.0:1"}})


def test_the_run_command_serves_the_status_page_of_its_service() -> None:
    command = [
        sys.executable,
        "-m",
        "slither_actors",
        "run",
        "tests.pipe_service:main",
        "--settings",
        "tests/pipe_service.toml",
        "--status",
        "127.0.0.1:0",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        line = ""
        while "status page at" not in line:
            line = process.stderr.readline()
            assert line, "the service ended without serving its status page"
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group()  # type: ignore[union-attr]
        snapshot = json.loads(urllib.request.urlopen(url + "/status", timeout=10).read())
        assert snapshot["pid"] == process.pid
        assert [pool["name"] for pool in snapshot["pools"]] == ["default"]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    pids = [int(pid) for pid in out.splitlines()[0].split(":")[1].split()]
    assert not any(process_alive(pid) for pid in pids)


def test_the_run_command_refuses_a_public_address_unless_asked() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "slither_actors", "run", "x:y", "--status", "0.0.0.0:9100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--status-public" in result.stderr


def test_the_status_flag_wins_over_the_variable() -> None:
    environment = {**os.environ, "SLITHER_STATUS__ADDRESS": "0.0.0.0:1"}
    result = subprocess.run(
        [sys.executable, "-m", "slither_actors", "run", "tests.nowhere:main", "--status",
         "127.0.0.1:0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    # The variable alone would be refused as public; with the flag, the run goes on to load.
    assert "cannot load 'tests.nowhere:main'" in result.stderr, result.stderr


async def test_a_run_pipe_in_progress_shows_with_its_stages_and_leaves_when_done() -> None:
    from slither_actors._status import take_snapshot

    held = trio.Event()
    release = trio.Event()

    async def hold(item: sa.Item, ctx: sa.Context) -> int:
        held.set()
        await release.wait()
        return int(item.payload)

    class Holding(sa.Pipe):
        stages = [sa.LocalStage("hold", hold, buffer=16)]

    async with sa.open_runtime() as runtime:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sa.run_pipe, Holding, range(40))
            await held.wait()
            (pipe,) = take_snapshot(runtime)["pipes"]
            assert (pipe["name"], pipe["running"]) == ("Holding", True)
            (stage,) = pipe["stages"]
            assert stage["name"] == "hold" and 0 < stage["inbox"]["depth"] <= 16
            release.set()
        assert take_snapshot(runtime)["pipes"] == []
