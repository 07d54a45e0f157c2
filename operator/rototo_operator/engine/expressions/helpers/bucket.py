"""Stable rollout buckets: 64-bit FNV-1a over `salt + ":" + canonical value`, mod 10000.

The canonical value is the string itself for strings and compact JSON otherwise (see
`values.canonical_text`), hashed as UTF-8.
"""

from __future__ import annotations

from typing import Any

from rototo_operator.engine.expressions import values

_OFFSET_BASIS = 0xCBF29CE484222325
_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF
BUCKETS = 10_000


def fnv1a64(data: bytes, start: int = _OFFSET_BASIS) -> int:
    state = start
    for byte in data:
        state = ((state ^ byte) * _PRIME) & _MASK
    return state


def salt_state(salt: str) -> int:
    """The hash state after `salt:`; lets a compiled call reuse it for every value."""
    return fnv1a64(salt.encode("utf-8", errors="surrogatepass") + b":")


def bucket_from_state(state: int, value: Any) -> int:
    text = values.canonical_text(value)
    return fnv1a64(text.encode("utf-8", errors="surrogatepass"), state) % BUCKETS


def bucket_value(salt: str, value: Any) -> int:
    """The bucket (0..9999) of `value` under `salt`."""
    return bucket_from_state(salt_state(salt), value)
