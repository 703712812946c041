"""Moving batches from a worker process to the loader: pickle, with big arrays in shared memory.

A batch is pickled with protocol 5; every contiguous array buffer of at least
``OUT_OF_BAND_MIN`` bytes is taken out of band and written (one copy) into an anonymous shared
memory file (``memfd``). The file descriptor travels over the worker's unix socket (SCM_RIGHTS)
and the loader maps it: the batch's arrays then live in that mapping, with no further copy.
The file has no name, so nothing is left behind whatever happens to either process; the
memory is freed when the last array using it goes away. Where ``memfd_create`` is missing
(non-Linux), every buffer travels in band through the socket instead.

Wire format of one message: ``u64 header length``, then the header ``u64 payload length,
u64 buffer count, u64 mapping size, (u64 offset, u64 size) per buffer``, then the payload.
"""

from __future__ import annotations

import array
import mmap
import os
import pickle
import socket
import struct
from typing import Any, Final

__all__ = ["SHARED_MEMORY", "encode", "recv", "send"]

_PASS_FDS: Final = hasattr(socket, "CMSG_SPACE")  # SCM_RIGHTS on unix sockets
SHARED_MEMORY = hasattr(os, "memfd_create") and _PASS_FDS  # False: everything in band
OUT_OF_BAND_MIN: Final = 1 << 15  # smaller buffers are cheaper in band than as a mapping
ALIGN: Final = 64  # byte alignment of each buffer in the mapping (numpy wants >= 16)

Encoded = tuple[bytes, list[pickle.PickleBuffer]]


def encode(message: Any) -> Encoded:
    """Pickle ``message``; big contiguous buffers are returned apart, to go by shared memory."""
    buffers: list[pickle.PickleBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:  # True: keep it in band
        if not SHARED_MEMORY:
            return True
        try:
            nbytes = buffer.raw().nbytes
        except BufferError:  # not contiguous
            return True
        if nbytes < OUT_OF_BAND_MIN:
            return True
        buffers.append(buffer)
        return False

    payload = pickle.dumps(message, protocol=5, buffer_callback=out_of_band)
    return payload, buffers


def _layout(buffers: list[pickle.PickleBuffer]) -> tuple[list[int], int]:
    offsets, end = [], 0
    for b in buffers:
        offsets.append(end)
        end += -(-b.raw().nbytes // ALIGN) * ALIGN
    return offsets, max(end, 1)


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


def send(sock: socket.socket, encoded: Encoded) -> None:
    """Send one encoded message (blocking); the shared memory is written here."""
    payload, buffers = encoded
    offsets, total = _layout(buffers)
    fields = [len(payload), len(buffers), total]
    for b, off in zip(buffers, offsets):
        fields += [off, b.raw().nbytes]
    header = struct.pack(f"<{len(fields)}Q", *fields)
    head = struct.pack("<Q", len(header)) + header
    if not buffers:
        sock.sendall(head)
    else:
        fd = os.memfd_create("nr-data-batch", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, total)
            for b, off in zip(buffers, offsets):
                _write_all(fd, b.raw(), off)
            fds = array.array("i", [fd])
            sent = sock.sendmsg([head], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            if sent < len(head):
                sock.sendall(head[sent:])
        finally:
            os.close(fd)  # the loader holds its own descriptor (or the message never left)
    sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    out = bytearray(n)
    view = memoryview(out)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("the worker closed its socket in the middle of a message")
        got += k
    return out


def recv(sock: socket.socket) -> Any:
    """Receive one message sent by :func:`send` and unpickle it (blocking)."""
    fds = array.array("i")
    if _PASS_FDS:
        first, ancillary, _, _ = sock.recvmsg(8, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    else:
        first = sock.recv(8)
    if not first:
        raise EOFError("the worker closed its socket")
    if len(first) < 8:
        first += _recv_exact(sock, 8 - len(first))
    try:
        (header_len,) = struct.unpack("<Q", first)
        header = _recv_exact(sock, header_len)
        fields = struct.unpack(f"<{header_len // 8}Q", header)
        payload_len, count, total = fields[:3]
        payload = _recv_exact(sock, payload_len)
        views: list[memoryview] = []
        if count:
            if len(fds) != 1:
                raise RuntimeError(f"DataLoader: a batch arrived with {len(fds)} shared memory "
                                   "descriptors instead of 1")
            mapping = mmap.mmap(fds[0], total)  # MAP_SHARED, read-write; lives with the arrays
            whole = memoryview(mapping)
            views = [whole[off:off + size] for off, size in zip(fields[3::2], fields[4::2])]
    finally:
        for fd in fds:
            os.close(fd)
    return pickle.loads(payload, buffers=views)
