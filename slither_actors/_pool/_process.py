"""Starting, feeding and stopping one worker process: pipes, writes, logs, signals."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import itertools
import logging
import os
import signal
import subprocess
from pathlib import Path

import attrs
import trio

from slither_actors._core import Signal
from slither_actors._pool.protocol import Frame
from slither_actors.config import PoolSettings
from slither_actors.errors import WorkerStartFailed

__all__ = ["PipeWriter", "WorkerProcess", "describe_exit", "spawn"]

_log = logging.getLogger("slither_actors.worker")

# Where the parent's copy of slither_actors lives; workers put it first on their path so
# they always speak the same protocol version as the parent.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_PIPE_SIZE = 1 << 20
_LOG_LINE_LIMIT = 64 * 1024
_STDERR_TAIL_LINES = 20
_WRITE_VECTOR = 64  # buffers handed to one writev (Linux takes up to 1024)


class PipeWriter:
    """Writes frames to a non-blocking pipe without ever waiting in the caller.

    `write` tries the pipe at once, which succeeds whenever the pipe has room (the usual
    case: one syscall, no trip through the scheduler). What does not fit waits in a queue,
    in order, for `flush_forever` to write it as the pipe drains. The queue holds views of
    the frames, not copies (a frame is immutable bytes), and only frames of calls already
    assigned to this worker, so it is bounded by the pool.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._backlog: collections.deque[memoryview] = collections.deque()
        self._wakeup = Signal()
        self.broken = False

    def write(self, frame: Frame) -> None:
        """Queue ``frame`` behind anything not yet written; write now if possible."""
        if self.broken:
            return
        backlog = self._backlog
        if isinstance(frame, bytes):  # the usual case, kept flat
            if backlog:
                backlog.append(memoryview(frame))
                return
            try:
                written = os.write(self.fd, frame)
            except BlockingIOError:
                written = 0
            except OSError:
                self.broken = True  # the reader notices the worker is gone
                return
            if written < len(frame):
                backlog.append(memoryview(frame)[written:])
                self._wakeup.set()
            return
        header, body = frame  # a large frame: its header and body written by one writev
        backlog.extend((memoryview(header), body))
        if len(backlog) == 2:  # nothing ahead of it: write what the pipe takes now
            self._write_backlog()
        self._wakeup.set()

    async def flush_forever(self) -> None:
        """Write the backlog whenever there is one; runs for the life of the process."""
        backlog = self._backlog
        while True:
            while backlog and not self.broken:
                await trio.lowlevel.wait_writable(self.fd)
                self._write_backlog()
            if self.broken:
                return
            await self._wakeup.wait()

    def _write_backlog(self) -> None:
        """Write what the pipe takes of the backlog, in one writev, and drop it from there."""
        backlog = self._backlog
        try:
            written = os.writev(self.fd, list(itertools.islice(backlog, _WRITE_VECTOR)))
        except BlockingIOError:
            return
        except OSError:
            self.broken = True  # the reader notices the worker is gone
            return
        while written:
            head = backlog[0]
            if written < len(head):
                backlog[0] = head[written:]
                return
            written -= len(head)
            backlog.popleft()

    def close(self) -> None:
        """Close the pipe (tasks waiting on it are woken first)."""
        trio.lowlevel.notify_closing(self.fd)
        os.close(self.fd)


@attrs.define(eq=False)
class WorkerProcess:
    """One running worker process and the parent's ends of its pipes."""

    process: trio.Process
    worker_id: int
    where: str
    writer: PipeWriter
    reader: trio.lowlevel.FdStream
    lifeline: int
    stderr_tail: collections.deque[str] = attrs.Factory(
        lambda: collections.deque(maxlen=_STDERR_TAIL_LINES)
    )

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_stopped(self) -> bool:
        """True while the process is stopped by a signal (SIGSTOP, SIGTSTP): frozen, it
        cannot answer a heartbeat nor finish a call. Read from /proc (False elsewhere)."""
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
                return stat.read().rsplit(b")", 1)[1].split()[0] == b"T"
        except (OSError, IndexError):
            return False

    async def log_output(self, stream: trio.abc.ReceiveStream | None, level: int) -> None:
        """Log each line the worker writes to stdout or stderr, tagged with the worker."""
        if stream is None:
            return
        pending = b""
        async for chunk in stream:
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if len(pending) > _LOG_LINE_LIMIT:
                lines.append(pending)
                pending = b""
            for line in lines:
                self._log_line(line, level)
        if pending:
            self._log_line(pending, level)

    def _log_line(self, line: bytes, level: int) -> None:
        text = line[:_LOG_LINE_LIMIT].decode(errors="replace")
        if level >= logging.WARNING:
            self.stderr_tail.append(text)
        _log.log(level, "[%s] %s", self.where, text, extra={"worker_id": self.worker_id})

    async def stop(
        self, *, stop_frame: Frame | None, stop_grace: float, kill_grace: float
    ) -> None:
        """End the process: ``stop_frame`` (if given) and ``stop_grace`` to exit, then SIGTERM
        and ``kill_grace``, then SIGKILL. Shielded: it completes even while cancelled."""
        process = self.process
        with trio.CancelScope(shield=True):
            if stop_frame is not None and process.returncode is None:
                self.writer.write(stop_frame)
                with trio.move_on_after(stop_grace):
                    await process.wait()
            for sending, grace in ((signal.SIGTERM, kill_grace), (signal.SIGKILL, None)):
                if process.returncode is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(sending)
                if grace is None:
                    await process.wait()
                else:
                    with trio.move_on_after(grace):
                        await process.wait()

    async def close(self) -> None:
        """Close the parent's ends of the pipes (after the process has ended)."""
        with trio.CancelScope(shield=True):
            self.writer.close()
            await self.reader.aclose()
            os.close(self.lifeline)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    await stream.aclose()


def describe_exit(returncode: int | None) -> str:
    """``exited with code 3``, ``was killed by signal SIGKILL``, or ``is still running``."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"was killed by signal {name}"
    return f"exited with code {returncode}"


async def spawn(settings: PoolSettings, worker_id: int, where: str) -> WorkerProcess:
    """Start a worker process with its three private pipes; raise `WorkerStartFailed`."""
    to_child_read, to_child_write = os.pipe()
    from_child_read, from_child_write = os.pipe()
    lifeline_read, lifeline_write = os.pipe()
    child_ends = (to_child_read, from_child_write, lifeline_read)
    for fd in (to_child_write, from_child_write):
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)  # fewer wake-ups for big frames
    command = [
        settings.python,
        "-m",
        "slither_actors._pool.child",
        "--worker-id",
        str(worker_id),
        "--fds",
        ",".join(map(str, child_ends)),
        "--max-frame",
        str(settings.max_frame),
    ]
    for module in settings.preload:
        command += ["--preload", module]
    if settings.allow_pickle:
        command.append("--allow-pickle")
    env = {**os.environ, **settings.env}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    try:
        process = await trio.lowlevel.open_process(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=child_ends,
            cwd=settings.cwd,
            env=env,
        )
    except OSError as exc:
        for fd in (to_child_write, from_child_read, lifeline_write):
            os.close(fd)
        raise WorkerStartFailed(where, f"could not run {settings.python!r}: {exc}") from exc
    finally:
        for fd in child_ends:
            os.close(fd)
    os.set_blocking(to_child_write, False)
    return WorkerProcess(
        process,
        worker_id,
        f"{where} pid {process.pid}",
        PipeWriter(to_child_write),
        trio.lowlevel.FdStream(from_child_read),
        lifeline_write,
    )
