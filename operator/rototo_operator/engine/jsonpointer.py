"""RFC 6901 JSON Pointers: syntax check and lookup (as serde_json's `Value::pointer`)."""

from __future__ import annotations

from typing import Any


def is_valid_pointer(pointer: str) -> bool:
    """Empty, or `/`-separated tokens where `~` is only ever `~0` or `~1`."""
    if pointer == "":
        return True
    if not pointer.startswith("/"):
        return False
    for token in pointer.split("/")[1:]:
        index = 0
        while index < len(token):
            if token[index] == "~":
                if token[index + 1 : index + 2] not in ("0", "1"):
                    return False
                index += 2
            else:
                index += 1
    return True


def resolve_pointer(document: Any, pointer: str) -> tuple[bool, Any]:
    """(found, value) for `pointer` inside `document`."""
    if pointer == "":
        return True, document
    if not pointer.startswith("/"):
        return False, None
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                return False, None
            current = current[token]
        elif isinstance(current, list):
            # serde_json accepts only canonical decimal indexes (no sign, no leading zero).
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                return False, None
            index = int(token)
            if index >= len(current):
                return False, None
            current = current[index]
        else:
            return False, None
    return True, current
