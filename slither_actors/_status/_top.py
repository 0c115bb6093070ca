"""``python -m slither_actors top ADDRESS``: a running service's status in the terminal.

It reads the service's ``/status`` JSON over HTTP and draws the supervision tree, the
pools' workers, the pipes' stages and the stores with rich, redrawn every interval. It is
its own process, so a plain blocking loop does the fetching.

rich is an optional dependency (the ``status`` extra): it is imported where it is used.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from slither_actors._checks import check_seconds
from slither_actors.config import parse_address

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text
    from rich.tree import Tree

__all__ = ["render", "run_top"]

FETCH_TIMEOUT = 5.0  # seconds; a service whose event loop is stuck answers late or never
STATE_STYLES = {"running": "green", "restarting": "dark_orange", "stopped": "grey50"}
WORKER_STYLES = {"busy": "bold cyan", "idle": "", "draining": "dark_orange", "starting": "blue"}
BAR_WIDTH = 10


def run_top(
    address: str, interval: float = 1.0, *, once: bool = False, console: Console | None = None
) -> int:
    """Show the status of the service at ``address`` (``host:port``), redrawn every
    ``interval`` seconds until Ctrl-C; returns the exit code (0).

    With ``once``, prints one frame and returns 0, or 1 (after saying why) if the service
    cannot be read. Without it, an unreachable service is reported in place of the frame
    and asked again every interval. Raises `ValueError` naming ``address`` or ``interval``
    if either is malformed, and `ImportError` if rich is not installed.
    """
    if not isinstance(address, str):
        raise ValueError(f"address must be a str such as 127.0.0.1:9100, not {address!r}")
    try:
        parse_address(address)
    except ValueError as error:
        raise ValueError(f"address: {error}") from None
    interval = check_seconds("interval", interval, infinite=False)
    _import_rich()
    from rich.console import Console
    from rich.live import Live

    console = console if console is not None else Console()
    url = f"http://{address}/status"
    try:
        if once:
            frame, reachable = _frame(url, interval, retrying=False)
            console.print(frame)
            return 0 if reachable else 1
        with Live(console=console, auto_refresh=False) as live:
            while True:
                frame, _ = _frame(url, interval, retrying=True)
                live.update(frame, refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def render(snapshot: dict[str, Any]) -> RenderableType:
    """One frame of ``top`` for a ``/status`` snapshot: a header, the supervision tree,
    then a table per pool and per pipe, and one for the stores."""
    _import_rich()
    from rich.console import Group
    from rich.text import Text

    header = Text.assemble(
        (str(snapshot.get("service", "slither_actors")), "bold"),
        f"  pid {snapshot.get('pid', '?')}",
        f"  up {_duration(float(snapshot.get('uptime', 0.0)))}",
        f"  at {time.strftime('%H:%M:%S', time.localtime(snapshot.get('time', time.time())))}",
    )
    parts: list[RenderableType] = [header, _tree(snapshot["tree"])]
    parts.extend(_pool_table(pool) for pool in snapshot.get("pools", []))
    parts.extend(_pipe_table(pipe) for pipe in snapshot.get("pipes", []))
    if snapshot.get("stores"):
        parts.append(_store_table(snapshot["stores"]))
    return Group(*parts)


def _import_rich() -> None:
    try:
        import rich  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "the status view needs rich: pip install 'slither_actors[status]'"
        ) from error


def _frame(url: str, interval: float, *, retrying: bool) -> tuple[RenderableType, bool]:
    """The frame for the snapshot at ``url``, or a message saying why there is none."""
    from rich.text import Text

    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            snapshot = json.load(response)
    except (OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        again = f"; trying again every {interval:g}s" if retrying else ""
        return Text(f"cannot read {url}: {reason}{again}", style="bold red"), False
    return render(snapshot), True


def _tree(node: dict[str, Any]) -> Tree:
    from rich.tree import Tree

    tree = Tree(_node_label(node), guide_style="grey50")
    _add_children(tree, node)
    return tree


def _add_children(branch: Tree, node: dict[str, Any]) -> None:
    for child in node.get("children", []):
        _add_children(branch.add(_node_label(child)), child)


def _node_label(node: dict[str, Any]) -> Text:
    from rich.text import Text

    state = str(node.get("state", "?"))
    kind = str(node.get("kind", "?"))
    if node.get("strategy"):
        kind += f" {node['strategy']}"
    label = Text.assemble(
        ("● ", STATE_STYLES.get(state, "")),
        (str(node.get("id", "?")), "bold"),
        (f"  {kind}  ", "grey50"),
        (state, STATE_STYLES.get(state, "")),
    )
    if node.get("restarts"):
        label.append(f"  ↻ {node['restarts']}", style="dark_orange")
    if node.get("mailbox"):
        label.append("  mailbox ")
        label.append_text(_bar(node["mailbox"]))
    if node.get("last_exit"):
        label.append(f"  last exit: {node['last_exit']}", style="red")
    return label


def _bar(queue: dict[str, Any] | None) -> Text:
    """``depth/bound`` with a small bar, coloured as the queue fills."""
    from rich.text import Text

    if not queue:
        return Text("-")
    depth, bound = queue.get("depth", 0), queue.get("bound", 0)
    share = min(1.0, depth / bound) if bound else 0.0
    filled = round(share * BAR_WIDTH)
    style = "red" if share >= 1 else "dark_orange" if share >= 0.5 else "blue"
    return Text.assemble(
        ("█" * filled, style), ("░" * (BAR_WIDTH - filled), "grey35"), f" {depth}/{bound}"
    )


def _pool_table(pool: dict[str, Any]) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(
            f"pool {pool.get('name')}: {pool.get('live')}/{pool.get('size')} live, "
            f"{pool.get('in_flight')} in flight, {pool.get('waiting')} waiting",
            style="bold",
        ),
        title_justify="left",
        expand=False,
    )
    for heading in ("worker", "pid", "state", "in flight", "calls done", "RSS MB"):
        table.add_column(heading, justify="left" if heading == "state" else "right")
    for worker in pool.get("workers", []):
        state = str(worker.get("state", "?"))
        rss = worker.get("rss_mb")
        table.add_row(
            str(worker.get("worker_id")),
            str(worker.get("pid")),
            Text(state, style=WORKER_STYLES.get(state, "")),
            str(worker.get("in_flight")),
            f"{worker.get('calls_done', 0):,}",
            "-" if rss is None else f"{rss:.1f}",
        )
    return table


def _pipe_table(pipe: dict[str, Any]) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    delivered = ", ".join(f"{name} {count:,}" for name, count in pipe.get("delivered", {}).items())
    table = Table(
        title=Text(
            f"pipe {pipe.get('name')}: {'running' if pipe.get('running') else 'stopped'}, "
            f"delivered {delivered or 0}, {pipe.get('errors', 0)} errors",
            style="bold",
        ),
        title_justify="left",
    )
    for heading in ("stage", "kind", "inbox", "in flight", "items", "items/s"):
        numeric = heading not in ("stage", "kind", "inbox")
        table.add_column(heading, justify="right" if numeric else "left")
    for stage in pipe.get("stages", []):
        table.add_row(
            Text(str(stage.get("name"))),
            Text(str(stage.get("kind"))),
            _bar(stage.get("inbox")),
            str(stage.get("in_flight")),
            f"{stage.get('items', 0):,}",
            f"{stage.get('items_per_second', 0.0):,.1f}",
        )
    return table


def _store_table(stores: list[dict[str, Any]]) -> RenderableType:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text("stores", style="bold"), title_justify="left")
    table.add_column("store")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for store in stores:
        for name, size in store.get("tables", {}).items():
            table.add_row(Text(str(store.get("name"))), Text(str(name)), f"{size:,}")
    return table


def _duration(seconds: float) -> str:
    whole = int(seconds)
    hours, minutes, rest = whole // 3600, whole // 60 % 60, whole % 60
    if hours:
        return f"{hours}h {minutes}m {rest}s"
    return f"{minutes}m {rest}s" if minutes else f"{seconds:.1f}s"
