"""The raw loop's worker: length-prefixed msgpack frames on stdin, results on stdout."""

from __future__ import annotations

import struct
import sys

import msgpack
from workloads import BATCH_FUNCTIONS

HEADER = struct.Struct(">I")


def main() -> None:
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while header := source.read(HEADER.size):
        (size,) = HEADER.unpack(header)
        batch_id, workload, items = msgpack.unpackb(source.read(size))
        body = msgpack.packb([batch_id, BATCH_FUNCTIONS[workload](items)])
        sink.write(HEADER.pack(len(body)) + body)
        sink.flush()


if __name__ == "__main__":
    main()
