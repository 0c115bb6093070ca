"""The main loop of a worker process: ``python -m slither_actors._pool.child``.

The parent passes three pipe ends with ``pass_fds``: one to read frames from, one to write
frames to, and a *lifeline* the parent never writes to. The protocol never touches fd 1 or
fd 2, so whatever user code prints goes to the parent's log, not into a frame. When the
parent dies, even by ``kill -9``, the lifeline reaches end-of-file and this process exits
at once, busy or not (see `_exit_when_parent_goes`). Ctrl-C in a terminal reaches the whole
process group: workers ignore it and leave shutdown to the parent.

Only the standard library, msgpack and attrs are imported before user code, so a worker is
ready quickly.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import io
import os
import select
import signal
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from slither_actors import worker as worker_api
from slither_actors._pool._child_connection import ChildConnection
from slither_actors._pool._events import (
    CallReceived,
    CallUnreadable,
    PingReceived,
    ProtocolViolation,
    StopReceived,
)
from slither_actors._pool.protocol import (
    DEFAULT_MAX_FRAME,
    Frame,
    Malformed,
    PayloadError,
    ViewReply,
)
from slither_actors.errors import ParentGone, RemoteProtocolError, ResultError

# Exit status when the parent has gone away: nobody reads it, but it is distinct in tests.
PARENT_GONE_EXIT = 70
# Long error texts are cut so an error frame always fits.
_TEXT_LIMIT = 64 * 1024


class ChildLoop:
    """This process's side of the link: reads calls, runs them, writes their answers.

    What the protocol allows and expects is decided by its `ChildConnection`; this class
    only moves bytes between it and the pipes, and runs user code.
    """

    def __init__(
        self, worker_id: int, reader: int, writer: int, max_frame: int, allow_pickle: bool = False
    ) -> None:
        self.worker_id = worker_id
        self._reader = reader
        self._writer = writer
        self.connection = ChildConnection(max_frame, allow_pickle=allow_pickle)
        self._events: deque[Any] = deque()
        self._current: CallReceived | None = None
        self._functions: dict[tuple[bool, str], Callable[[list[Any]], Any]] = {}

    # --- the loop -------------------------------------------------------------------------

    def serve(self) -> None:
        """Handle events until the parent says stop or goes away (`ParentGone`)."""
        connection = self.connection
        while True:
            event = self._next_event()
            kind = type(event)
            if kind is CallReceived:
                self._run(event)
            elif kind is PingReceived:
                self._write(connection.send_pong(event.nonce))
            elif kind is StopReceived:
                return
            elif kind is CallUnreadable:
                # The frame was sound, only this call is bad: answer it, serve the rest.
                error: Exception
                if event.refused:
                    text = f"the worker cannot decode this call's payloads: {event.problem}"
                    error = PayloadError(text)
                else:
                    error = RemoteProtocolError(f"the worker received a {event.problem}")
                self._write(self._error_frame(event.call_id, error))
            else:
                assert kind is ProtocolViolation
                raise event.error

    def _run(self, call: CallReceived) -> None:
        self._current = call
        try:
            function = self._resolve(call)
            results = check_results(function(call.payloads), call.payloads)
            frame = self.connection.send_result(call.call_id, results)
        except (ParentGone, BrokenPipeError):
            raise  # the parent has gone: nobody is left to answer
        except BaseException as exc:
            # SystemExit and KeyboardInterrupt too: user code that calls sys.exit() fails
            # its call, as any exception does, and the worker lives on.
            frame = self._error_frame(call.call_id, exc)
        finally:
            self._current = None
        self._write(frame)

    def _resolve(self, call: CallReceived) -> Callable[[list[Any]], Any]:
        key = (call.tool, call.target)
        function = self._functions.get(key)
        if function is not None:
            return function
        if call.tool:
            found = worker_api.tools.get(call.target)
            if found is None:
                known = ", ".join(sorted(worker_api.tools)) or "none"
                raise LookupError(
                    f"no tool named {call.target!r} in this worker (registered: {known}); "
                    f"is the module that defines it listed in the pool's preload?"
                )
            function = found
        else:
            module_name, _, attribute = call.target.partition(":")
            target: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
            function = target
        self._functions[key] = function
        return function

    def _error_frame(self, call_id: int, exc: BaseException) -> Frame:
        message = str(exc)[:_TEXT_LIMIT]
        text = "".join(traceback.format_exception(exc))[-_TEXT_LIMIT:]
        return self.connection.send_error(call_id, type(exc).__name__, message, text)

    # --- views ----------------------------------------------------------------------------

    def current_session_id(self) -> str | None:
        """The session of the call being handled."""
        return self._current.session_id if self._current is not None else None

    def call_view(self, name: str, params: dict[str, Any]) -> Any:
        """Ask the parent for view ``name`` and wait for its reply."""
        if self._current is None:
            raise RuntimeError("call_view() can only be used while the worker handles a call")
        connection = self.connection
        try:
            _, frame = connection.send_view_request(name, params)
        except PayloadError as exc:
            raise worker_api.ViewError(name, "PayloadError", str(exc)) from None
        self._write(frame)
        while (reply := connection.take_view_reply()) is None:
            self._read_more()
            if self._events and type(self._events[-1]) is ProtocolViolation:
                raise self._events[-1].error
        if type(reply) is Malformed:
            # The reply holds a value this worker cannot decode (see Malformed).
            problem = f"the worker cannot decode the reply: {reply.problem}"
            raise worker_api.ViewError(name, "PayloadError", problem)
        assert type(reply) is ViewReply
        if reply.error_type is not None:
            raise worker_api.ViewError(name, reply.error_type, reply.error_message)
        return reply.value

    # --- bytes ----------------------------------------------------------------------------

    def send_hello(self) -> None:
        """Tell the parent this worker is ready."""
        self._write(self.connection.send_hello(os.getpid()))

    def send_start_failure(self, exc: BaseException, what: str) -> None:
        """Tell the parent this worker cannot start, and why."""
        message = f"{what}: {exc}"[:_TEXT_LIMIT]
        details = traceback.format_exc()[-_TEXT_LIMIT:]
        self._write(self.connection.send_start_failure(type(exc).__name__, message, details))

    def _write(self, frame: Frame) -> None:
        parts: tuple[bytes | memoryview, ...] = (frame,) if isinstance(frame, bytes) else frame
        for part in parts:
            written = os.write(self._writer, part)
            if written < len(part):
                view = memoryview(part)[written:]
                while view:
                    view = view[os.write(self._writer, view) :]

    def _next_event(self) -> Any:
        while not self._events:
            self._read_more()
        return self._events.popleft()

    def _read_more(self) -> None:
        # Into the connection's buffer: os.read would allocate (and shrink) a fresh block of
        # the full size for every read, which costs more than a small frame's whole
        # handling, and a large frame is read into its final place instead of copied chunk
        # by chunk.
        connection = self.connection
        size = os.readv(self._reader, [connection.get_buffer()])
        if not size:
            raise ParentGone("the pipe from the parent reached end-of-file")
        self._events.extend(connection.buffer_updated(size))



def check_results(results: Any, payloads: Sequence[Any]) -> list[Any]:
    """``results``, if a worker function returned a list of one result per payload; else
    `ResultError` saying what it returned (the parent sees it as a `WorkerError`)."""
    if type(results) is not list:
        raise ResultError(
            f"returned a {type(results).__name__}, not a list of {len(payloads)} results"
        )
    if len(results) != len(payloads):
        raise ResultError(f"returned {len(results)} results for a batch of {len(payloads)}")
    return results

def _exit_when_parent_goes(lifeline: int) -> None:
    """Make this process end the moment the parent dies, busy or not.

    The parent never writes to the lifeline, so it reaches end-of-file only when the parent
    has gone. On Linux the kernel then sends SIGIO to the lifeline's owner, and SIGIO's
    default action ends the process, even in the middle of C code, with no thread or
    handler involved. (An extra thread, blocked on the pipe, made the scheduler keep
    workers away from the parent's CPU and cost every round trip.) Elsewhere a daemon
    thread blocks on the pipe instead.
    """
    if sys.platform.startswith("linux") and hasattr(os, "O_ASYNC"):
        signal.signal(signal.SIGIO, signal.SIG_DFL)
        fcntl.fcntl(lifeline, fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(lifeline, fcntl.F_SETFL, fcntl.fcntl(lifeline, fcntl.F_GETFL) | os.O_ASYNC)
        if select.select([lifeline], [], [], 0)[0]:  # it died before we were listening
            os._exit(PARENT_GONE_EXIT)
        return
    threading.Thread(
        target=_block_on_lifeline, args=(lifeline,), name="slither-lifeline", daemon=True
    ).start()


def _block_on_lifeline(lifeline: int) -> None:
    while True:
        try:
            if not os.read(lifeline, 1):
                os._exit(PARENT_GONE_EXIT)
        except InterruptedError:
            continue
        except OSError:
            os._exit(PARENT_GONE_EXIT)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m slither_actors._pool.child")
    parser.add_argument("--worker-id", type=int, required=True)
    parser.add_argument("--fds", required=True, help="read,write,lifeline")
    parser.add_argument("--max-frame", type=int, default=DEFAULT_MAX_FRAME)
    parser.add_argument("--preload", action="append", default=[])
    parser.add_argument("--allow-pickle", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a worker process; the parent starts it, people do not."""
    options = _parse(argv)
    reader, writer, lifeline = (int(fd) for fd in options.fds.split(","))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for fd in (reader, writer, lifeline):
        os.set_inheritable(fd, False)  # processes that user code starts must not hold them
    _exit_when_parent_goes(lifeline)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)  # prints reach the parent's log at once

    loop = ChildLoop(options.worker_id, reader, writer, options.max_frame, options.allow_pickle)
    worker_api._connection = loop
    try:
        for module in options.preload:
            try:
                importlib.import_module(module)
            except BaseException as exc:
                loop.send_start_failure(exc, f"preload of {module!r} failed")
                return 1
        loop.send_hello()
        loop.serve()
    except (ParentGone, BrokenPipeError):
        return PARENT_GONE_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
