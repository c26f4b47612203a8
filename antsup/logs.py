"""Log records of every process of the tree reach the application, so one handler sees it all.

Each antsup process installs `ForwardingHandler` on its root logger: records are sent as msgpack
datagrams (never blocking: a full or absent receiver drops them) to `LogReceiver`, a thread of
the application that re-emits them through the application's own `logging` configuration, with
the sender's role and pid in `record.antsup_role` / `record.process`. Nothing is printed unless
the application configures logging (antsup's loggers carry a NullHandler).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any

from antsup.codec import pack, unpack
from antsup.errors import DecodeError

#: Longest message text forwarded (datagrams have a size limit; a log line should not be huge).
MAX_TEXT = 32 * 1024

logging.getLogger("antsup").addHandler(logging.NullHandler())


class ForwardingHandler(logging.Handler):
    """In a child process: send each record to the application's receiver, or drop it."""

    def __init__(self, address: str, role: str) -> None:
        super().__init__()
        self.address = address
        self.role = role
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()[:MAX_TEXT]
            exc_text = None
            if record.exc_info:
                exc_text = logging.Formatter().formatException(record.exc_info)[:MAX_TEXT]
            datagram = pack(
                [
                    record.name,
                    record.levelno,
                    text,
                    exc_text,
                    record.pathname,
                    record.lineno,
                    record.funcName,
                    record.created,
                    os.getpid(),
                    self.role,
                ]
            )
            self.sock.sendto(datagram, self.address)
        except (OSError, ValueError, TypeError):
            pass  # the application is not listening, or is too slow: logging must never block


def forward_logs(address: str | None, role: str, level: int) -> None:
    """Called first thing in a tree process: its records go to the application."""
    if address is None:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)  # under fork, the parent's handlers were inherited
    root.addHandler(ForwardingHandler(address, role))
    root.setLevel(level)


class LogReceiver:
    """In the application: a thread that re-emits the tree's records locally."""

    def __init__(self, address: str) -> None:
        self.address = address
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old_umask = os.umask(0o177)
        try:
            self.sock.bind(address)
        finally:
            os.umask(old_umask)
        self.sock.settimeout(0.2)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="antsup-logs", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                datagram = self.sock.recv(256 * 1024)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(DecodeError, ValueError, TypeError, AttributeError):
                self._emit(unpack(datagram))

    @staticmethod
    def _emit(fields: Any) -> None:
        name, level, text, exc_text, path, line, func, created, pid, role = fields
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(level):
            return
        record = logger.makeRecord(name, level, path, line, "%s", (text,), None, func)
        record.created = created
        record.process = pid
        record.antsup_role = role
        record.exc_text = exc_text
        logger.handle(record)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2.0)
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
