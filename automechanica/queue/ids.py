"""Time-ordered UUIDs (version 7) so new task ids land at the right edge of the primary key."""

from __future__ import annotations

import os
import time
import uuid

_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_RAND_A = 0xFFF
_RAND_B = (1 << 62) - 1


def uuid7() -> uuid.UUID:
    return uuid7_many(1)[0]


def uuid7_many(n: int) -> list[uuid.UUID]:
    """``n`` version-7 UUIDs from one clock read and one call for randomness."""
    ms = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    prefix = (ms << 80) | _VERSION_AND_VARIANT
    rand = os.urandom(10 * n)
    out = []
    for k in range(n):
        r = int.from_bytes(rand[10 * k : 10 * k + 10], "big")
        out.append(uuid.UUID(int=prefix | (((r >> 62) & _RAND_A) << 64) | (r & _RAND_B)))
    return out
