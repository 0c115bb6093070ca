"""A fake worker process for chaos/bad_inputs.py: it speaks the protocol badly on purpose.

A pool runs it in place of ``python -m slither_actors._pool.child`` through a wrapper
script given as ``PoolSettings(python=...)``; it ignores every argument but ``--fds``.
``CHAOS_FAKE_MODE`` (set through the pool's ``env``) says how it misbehaves:

- ``garbage_hello``: bytes that are no frame, instead of a hello;
- ``hello_99``: a hello announcing protocol version 99, then it serves calls as a worker;
- ``silent``: never says hello;
- ``garbage_after_call``: a good hello, then garbage in answer to a call;
- ``stray_result``: a good hello, then a result for a call that was never made.

It answers pings and exits on a stop frame or when the parent goes away.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from typing import Any

import msgpack

HELLO, CALL, RESULT, PING, PONG, STOP = 1, 2, 3, 7, 8, 9
HEADER = struct.Struct(">I")
GOOD_VERSION = 1


def frame(*fields: object) -> bytes:
    """A frame: the length, then the msgpack array of a message's kind and fields."""
    body: bytes = msgpack.packb(list(fields), use_bin_type=True)
    return HEADER.pack(len(body)) + body


def read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes from ``fd``; exit when the parent has gone."""
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def read_message(fd: int) -> list[Any]:
    """The next message from the parent, as its msgpack array."""
    (size,) = HEADER.unpack(read_exactly(fd, HEADER.size))
    return msgpack.unpackb(read_exactly(fd, size), raw=False)  # type: ignore[no-any-return]


def serve(reader: int, writer: int, mode: str) -> None:
    """Answer the parent's messages, misbehaving at the first call as ``mode`` says."""
    while True:
        message = read_message(reader)
        kind = message[0]
        if kind == PING:
            os.write(writer, frame(PONG, message[1]))
        elif kind == STOP:
            return
        elif kind == CALL:
            call_id, payloads = message[1], message[4]
            if mode == "garbage_after_call":
                os.write(writer, b"\x00\x00\x00\x06\xc1\xc1 garbage \xff")
            elif mode == "stray_result":
                os.write(writer, frame(RESULT, call_id + 999, payloads))
            else:
                os.write(writer, frame(RESULT, call_id, payloads))


def main() -> None:
    """Say hello (or not) as the mode says, then serve."""
    arguments = sys.argv[1:]
    reader, writer, _lifeline = (
        int(fd) for fd in arguments[arguments.index("--fds") + 1].split(",")
    )
    mode = os.environ["CHAOS_FAKE_MODE"]
    if mode == "garbage_hello":
        os.write(writer, b"\x00\x00\x00\x04\xc1\xc1\xc1\xc1 not a hello")
        time.sleep(30)
        return
    if mode == "silent":
        time.sleep(30)
        return
    version = 99 if mode == "hello_99" else GOOD_VERSION
    os.write(writer, frame(HELLO, os.getpid(), version))
    serve(reader, writer, mode)


if __name__ == "__main__":
    main()
