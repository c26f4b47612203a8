"""Every exception antsup raises, in one place so callers can catch them by kind."""


class AntsupError(Exception):
    """Base class of every antsup error."""


class DecodeError(AntsupError):
    """Bytes from a pipe, a socket or the journal are not a valid antsup message."""


class EncodeError(AntsupError):
    """A value cannot be encoded as msgpack (unsupported type or over a size limit)."""
