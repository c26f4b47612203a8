"""Every exception antsup raises, in one place so callers can catch them by kind."""


class AntsupError(Exception):
    """Base class of every antsup error."""


class DecodeError(AntsupError):
    """Bytes from a pipe, a socket or the journal are not a valid antsup message."""


class EncodeError(AntsupError):
    """A value cannot be encoded as msgpack (unsupported type or over a size limit)."""


class JobNotFound(AntsupError, LookupError):
    """No job has that id (it never existed, or it was deleted or pruned)."""


class UnknownQueue(AntsupError, ValueError):
    """The job names a queue the running tree does not have."""


class InvalidTransition(AntsupError, ValueError):
    """The job's status does not allow that operation (e.g. cancelling a completed job)."""


class JournalCorrupt(AntsupError):
    """A record in the journal is damaged somewhere other than a torn tail."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"journal corrupt in {path} at offset {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class JournalWriteError(AntsupError, OSError):
    """The journal could not be written (disk full, I/O error); nothing partial was left behind."""


class DataDirLocked(AntsupError):
    """Another tree already uses this data directory."""


class SupervisorStartError(AntsupError):
    """A child failed to start while its supervisor was starting; nothing was left running."""


class NotRunning(AntsupError):
    """No antsup tree is reachable from this process (none started, or its socket is gone)."""


class ConnectionLost(AntsupError):
    """The queue manager went away mid-request; the request may or may not have been applied."""


class RemoteError(AntsupError):
    """The queue manager refused a request for a reason with no more specific class."""


class ChildNotFound(AntsupError, LookupError):
    """A supervisor has no child with that id (or the path names no nested supervisor)."""


class SupervisorCallError(AntsupError):
    """A supervisor refused a control call; `code` says why (running, already_present, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
