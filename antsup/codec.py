"""The one place where antsup turns values into bytes and back: msgpack with hard limits.

Nothing antsup sends over a pipe or writes to disk is pickle. Decoding is bounded so that a
hostile or corrupt message yields `DecodeError`, never a crash or unbounded memory use.
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack

from antsup.errors import DecodeError, EncodeError

#: Largest message or journal record antsup will decode (64 MiB).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def pack(value: Any) -> bytes:
    """Encode `value` (None, bool, int, float, str, bytes, list, tuple, dict) as msgpack."""
    packer = getattr(_per_thread, "packer", None) or msgpack.Packer(use_bin_type=True)
    _per_thread.packer = None  # in use: a pack() nested inside this one gets its own
    try:
        packed: bytes = packer.pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EncodeError(f"cannot encode as msgpack: {exc}") from exc  # that packer is dropped
    if len(packed) <= _KEEP_PACKER_UP_TO:  # a packer keeps its largest buffer: not a big one
        _per_thread.packer = packer
    return packed


#: One Packer per thread, reused: `msgpack.packb` builds a new one per call, which is most of
#: its cost for the small values antsup packs per job (0.48 -> 0.31 us here).
_per_thread = threading.local()
_KEEP_PACKER_UP_TO = 1 << 20


def unpack(data: bytes | bytearray | memoryview, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    """Decode one msgpack value, refusing anything malformed, truncated or over `max_bytes`."""
    if len(data) > max_bytes:
        raise DecodeError(f"message of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            use_list=True,
            max_str_len=max_bytes,
            max_bin_len=max_bytes,
            max_array_len=max_bytes,
            max_map_len=max_bytes // 2,
            max_ext_len=0,
        )
    except (
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
        ValueError,
        TypeError,
        UnicodeDecodeError,
    ) as exc:
        raise DecodeError(f"malformed msgpack message: {exc}") from exc
