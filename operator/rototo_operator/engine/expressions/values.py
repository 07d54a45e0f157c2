"""JSON value semantics of the reference engine (serde_json), on plain Python values.

Context values are what `json.loads` produces: dict, list, str, int, float, bool, None.
The reference keeps numbers as u64, i64 or f64 and compares them in its own way:

* top-level `==`/`!=`/`in`/`contains` compare numbers across kinds (1 == 1.0), with the
  reference's saturating integer/float checks reproduced exactly;
* numbers nested inside arrays or objects compare strictly by kind (`[1] != [1.0]`);
* ordering converts both numbers to f64; strings order by code point; any other pair
  is simply not ordered (the comparison is false, never an error).

Integers outside the i64/u64 range are read as f64, as serde_json reads such JSON text.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from typing import Any

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1


def is_number(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, float)


def _as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def number_parts(value: int | float) -> tuple[int | None, int | None, float | None]:
    """`(as_i64, as_u64, as_f64)` of a serde_json Number holding `value`."""
    if isinstance(value, float):
        return None, None, value
    if 0 <= value <= U64_MAX:
        return (value if value <= I64_MAX else None), value, float(value)
    if I64_MIN <= value < 0:
        return value, None, float(value)
    return None, None, _as_float(value)


def _saturate(value: float, low: int, high: int) -> int:
    # Rust's `f64 as i64` / `as u64`: saturating, and NaN becomes 0.
    if math.isnan(value):
        return 0
    if value == math.inf:
        return high
    if value == -math.inf:
        return low
    return max(low, min(high, int(value)))


def _int_float_equal(integer: int, number: float, low: int, high: int) -> bool:
    return (
        math.isfinite(number)
        and number.is_integer()
        and (low < 0 or number >= 0.0)
        and _saturate(number, low, high) == integer
        and float(integer) == number
    )


def numbers_equal(left: int | float, right: int | float) -> bool:
    """The reference's cross-kind number equality (`json_numbers_equal`)."""
    if strict_equal(left, right):
        return True
    li, lu, lf = number_parts(left)
    ri, ru, rf = number_parts(right)
    if li is not None and ri is not None:
        return li == ri
    if lu is not None and ru is not None:
        return lu == ru
    if li is not None and rf is not None:
        return _int_float_equal(li, rf, I64_MIN, I64_MAX)
    if lu is not None and rf is not None:
        return _int_float_equal(lu, rf, 0, U64_MAX)
    if lf is not None and ri is not None:
        return _int_float_equal(ri, lf, I64_MIN, I64_MAX)
    if lf is not None and ru is not None:
        return _int_float_equal(ru, lf, 0, U64_MAX)
    if lf is not None and rf is not None:
        return lf == rf
    return False


def values_equal(left: Any, right: Any) -> bool:
    """Top-level equality (`json_values_equal`): numbers across kinds, else strict."""
    if is_number(left) and is_number(right):
        return numbers_equal(left, right)
    return strict_equal(left, right)


def _number_kind(value: int | float) -> tuple[str, int | float]:
    if isinstance(value, float):
        return "f", value
    if 0 <= value <= U64_MAX:
        return "u", value
    if I64_MIN <= value < 0:
        return "i", value
    return "f", _as_float(value)


def strict_equal(left: Any, right: Any) -> bool:
    """serde_json `Value == Value`: kinds must match, numbers included."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if is_number(left) or is_number(right):
        if not (is_number(left) and is_number(right)):
            return False
        return _number_kind(left) == _number_kind(right)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            strict_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        if left.keys() != right.keys():
            return False
        return all(strict_equal(value, right[key]) for key, value in left.items())
    return False


def as_f64(value: Any) -> float | None:
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return _as_float(value)
    return None


def ordered(left: Any, right: Any) -> int | None:
    """-1/0/1 when the pair is ordered (numbers as f64, or two strings), else None."""
    lf = as_f64(left)
    rf = as_f64(right)
    if lf is not None and rf is not None:
        if lf < rf:
            return -1
        if lf > rf:
            return 1
        return 0 if lf == rf else None
    if isinstance(left, str) and isinstance(right, str):
        return -1 if left < right else (1 if left > right else 0)
    return None


def as_i64(value: Any) -> int | None:
    """serde_json `as_i64`: only integers that fit i64 (never floats)."""
    if isinstance(value, int) and not isinstance(value, bool) and I64_MIN <= value <= I64_MAX:
        return value
    return None


def format_f64(value: float) -> str:
    """Format a finite float the way serde_json 1.0.150 writes it.

    Shortest round-trip digits; plain notation for 1e-5 <= |x| < 1e16 (with `.0` on
    whole numbers), otherwise `d.ddde+N` / `d.ddde-N` (explicit exponent sign)."""
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    # repr() yields the shortest round-tripping digits, as ryu does; only the layout differs.
    digits_tuple, exponent = _shortest_digits(abs(value))
    digits = "".join(map(str, digits_tuple))
    length = len(digits)
    kk = length + exponent
    if exponent >= 0 and kk <= 16:
        body = digits + "0" * exponent + ".0"
    elif 0 < kk <= 16:
        body = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        body = "0." + "0" * (-kk) + digits
    elif length == 1:
        body = f"{digits}e{kk - 1:+d}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{kk - 1:+d}"
    return sign + body


def _shortest_digits(value: float) -> tuple[tuple[int, ...], int]:
    parsed = decimal.Decimal(repr(value)).as_tuple()
    digits = list(parsed.digits)
    exponent = int(parsed.exponent)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    return tuple(digits), exponent


def _escape_json_string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20:
            short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}.get(code)
            out.append(short if short is not None else f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def to_json_text(value: Any) -> str:
    """Compact JSON text as serde_json writes a Value (object keys in sorted order)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _escape_json_string(value)
    if isinstance(value, int):
        if I64_MIN <= value <= U64_MAX:
            return str(value)
        return format_f64(_as_float(value)) if math.isfinite(_as_float(value)) else "null"
    if isinstance(value, float):
        return format_f64(value) if math.isfinite(value) else "null"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json_text(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        return (
            "{"
            + ",".join(f"{_escape_json_string(str(k))}:{to_json_text(v)}" for k, v in items)
            + "}"
        )
    return _escape_json_string(str(value))


def canonical_text(value: Any) -> str:
    """The text `bucket()` hashes: a string as is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return to_json_text(value)
