"""antsup: background jobs on a supervised tree of OS processes, kept in a msgpack journal."""

__version__ = "0.1.0"
