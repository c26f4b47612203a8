"""The `antsup` command: run a tree as a service, watch it, and manage its jobs and queues.

Errors a user can cause (no tree running, unknown job, bad arguments) print one line on stderr
and exit non-zero; only a bug in antsup itself shows a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from antsup.errors import AntsupError, JobNotFound

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from antsup.cli.parser import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.handler(args)
    except JobNotFound as exc:
        return _fail(str(exc).strip("'\""))
    except BrokenPipeError:  # `antsup jobs list | head`
        return 0
    except (AntsupError, ValueError, OSError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return code


def _fail(message: str) -> int:
    print(f"antsup: {message}", file=sys.stderr)
    return 1
