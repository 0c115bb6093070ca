"""``python -m slither_actors run module:attribute``: long-running pipes as a service.

``python -m slither_actors top HOST:PORT`` watches such a service's status page.

``module:attribute`` names an async function ``main(runtime)`` that starts pipes with
`start_pipe` and returns their `PipeService` (or a list of them). The command runs it in
a runtime (settings from ``--settings``, else defaults) and waits until every pipe has
ended. On SIGTERM or SIGINT it stops reading their sources, lets what is inside finish
(for at most ``--drain-timeout`` seconds), and exits: 0 when every pipe ended cleanly, 1
when a pipe halted or had to be cut short. ``--status HOST:PORT`` serves the status page
there while it runs (loopback only, unless ``--status-public`` is given too).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs
import trio

from slither_actors._logs import LOG_FORMATS, logging_to_stderr
from slither_actors._pipe import PipeService
from slither_actors.config import Settings, StatusSettings
from slither_actors.errors import ConfigError, PipeError
from slither_actors.runtime import load_settings, open_runtime

ServiceMain = Callable[[Any], Awaitable["PipeService | Iterable[PipeService]"]]


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the named services; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m slither_actors")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run long-running pipes until they end or a signal")
    run.add_argument("target", metavar="module:attribute", help="async main(runtime) to run")
    run.add_argument("--settings", help="a TOML file or pyproject.toml with the settings")
    run.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds the pipes may take to finish what is inside after a signal (30)",
    )
    run.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="how the library logs to stderr if the service configured no logging (text)",
    )
    run.add_argument(
        "--status",
        metavar="HOST:PORT",
        help="serve the status page, /status and /metrics there (e.g. 127.0.0.1:9100)",
    )
    run.add_argument(
        "--status-public",
        action="store_true",
        help="allow a --status address other machines can reach (0.0.0.0, a LAN address)",
    )
    top = commands.add_parser("top", help="watch a running service's status page in the terminal")
    top.add_argument("address", metavar="HOST:PORT", help="where the service serves its status")
    top.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (1)")
    top.add_argument("--once", action="store_true", help="print one frame and exit")
    options = parser.parse_args(argv)
    if options.command == "top":
        return _top(parser, options)
    try:
        settings = _settings(options)
    except (ConfigError, ValueError) as error:
        parser.error(str(error))
    try:
        service_main = _load(options.target)
    except (ImportError, AttributeError, ValueError) as error:
        parser.error(f"cannot load {options.target!r}: {error}")
    serve = functools.partial(_serve, service_main, settings, options.drain_timeout)
    with logging_to_stderr(options.log_format):  # after the import, which may configure it
        return trio.run(serve)


def _settings(options: argparse.Namespace) -> Settings:
    """The settings file's settings (and ``SLITHER_...`` variables), with ``--status`` over
    their status table."""
    if options.status is None:
        if options.status_public:
            raise ValueError("--status-public needs --status HOST:PORT")
        return load_settings(options.settings)
    status = StatusSettings(options.status, public=options.status_public)
    # The flag wins over the variables, which every runtime applies on top of its settings.
    for variable in ("SLITHER_STATUS__ADDRESS", "SLITHER_STATUS__PUBLIC"):
        os.environ.pop(variable, None)
    return attrs.evolve(load_settings(options.settings), status=status)


def _top(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    from slither_actors._status._top import run_top

    try:
        return run_top(options.address, options.interval, once=options.once)
    except ValueError as error:
        parser.error(str(error))


def _load(target: str) -> ServiceMain:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError("expected module:attribute")
    value = getattr(importlib.import_module(module_name), attribute)
    if not callable(value):
        raise ValueError(f"{attribute} is not callable")
    return value  # type: ignore[no-any-return]


async def _serve(service_main: ServiceMain, settings: Settings, drain_timeout: float) -> int:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_runtime(settings) as runtime:
            started = await service_main(runtime)
            services = [started] if isinstance(started, PipeService) else list(started)
            _say(f"running {', '.join(service.pipe.name() for service in services)}")
            for url in runtime.status_urls:
                _say(f"status page at {url}/ (also {url}/status and {url}/metrics)")
            async with trio.open_nursery() as nursery:

                async def until_all_end() -> None:
                    for service in services:
                        with contextlib.suppress(PipeError):  # reported below
                            await service.wait()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(until_all_end)
                async for number in signals:
                    _say(f"{signal.Signals(number).name}: draining (at most {drain_timeout:g} s)")
                    for service in services:
                        nursery.start_soon(
                            functools.partial(service.stop, drain=True, timeout=drain_timeout)
                        )
                    break
    clean = True
    for service in services:
        name = service.pipe.name()
        delivered = ", ".join(f"{output} {count}" for output, count in service.delivered.items())
        _say(f"{name}: delivered {delivered or 'nothing'}; {len(service.errors)} error records")
        if service.error is not None:
            _say(f"{name} halted: {service.error}")
            clean = False
        elif service.cut_short:
            _say(f"{name} did not finish within the drain timeout: items inside were lost")
            clean = False
    return 0 if clean else 1


def _say(line: str) -> None:
    print(f"slither_actors: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
