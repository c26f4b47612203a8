"""A Unix-socket listener whose authentication never blocks the process that owns it.

`multiprocessing.connection.Listener.accept()` runs the authkey handshake inline, so one silent
client would freeze the queue manager. Here each handshake runs in a short-lived thread with a
receive timeout; only authenticated connections reach the owner's loop, through `ready()`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import struct
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge

HANDSHAKE_TIMEOUT = 5.0
#: Longest wait for the rest of a message once its first bytes arrived.
READ_TIMEOUT = 2.0


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))


class AuthListener:
    """Listens on `address` (file mode 0600) and yields connections that proved the authkey."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self.address = address
        self._authkey = authkey
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket file is born 0600: no window where others connect
        try:
            self._sock.bind(address)
        finally:
            os.umask(old_umask)
        os.chmod(address, 0o600)
        self._sock.listen(128)
        self._sock.setblocking(False)
        self._ready: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)

    def fileno(self) -> int:
        """Readable when a client is waiting to be accepted."""
        return self._sock.fileno()

    @property
    def wakeup_fd(self) -> int:
        """Readable when an authenticated connection is ready to be taken with `ready()`."""
        return self._wake_r

    def accept_pending(self) -> None:
        """Accept every waiting client and start its handshake in the background."""
        while True:
            try:
                sock, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            threading.Thread(target=self._handshake, args=(sock,), daemon=True).start()

    def ready(self) -> list[Connection]:
        """Connections that finished their handshake since the last call."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        conns = []
        while True:
            try:
                conns.append(self._ready.get_nowait())
            except queue.Empty:
                return conns

    def _handshake(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(HANDSHAKE_TIMEOUT))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(HANDSHAKE_TIMEOUT))
        conn = Connection(sock.detach())
        try:
            deliver_challenge(conn, self._authkey)
            answer_challenge(conn, self._authkey)
            # An owner that reads with blocking calls once a connection is readable (the
            # persistence process; the queue manager reads without blocking) must not be held
            # for more than READ_TIMEOUT by a peer that sends half a message and goes silent.
            fd = conn.fileno()
            raw = socket.socket(fileno=fd)
            try:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(READ_TIMEOUT))
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(0))
            finally:
                raw.detach()
        except (AuthenticationError, OSError, EOFError, ValueError):
            conn.close()
            return
        self._ready.put(conn)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def close(self) -> None:
        self._sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
