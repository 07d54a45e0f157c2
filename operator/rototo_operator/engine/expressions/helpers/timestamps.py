"""RFC 3339 instants, parsed exactly as strictly as the reference engine parses them.

Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T`/`Z` in either case, 1-9
fraction digits, real calendar dates (leap years), hours 0-23, minutes and seconds 0-59
(no leap second), offsets up to ±23:59. Rejected: anything shorter than 20 bytes, a
space instead of `T`, missing seconds, 10+ fraction digits, `+0000` style offsets,
trailing text. The result orders as an instant: (seconds since the epoch, nanos).
"""

from __future__ import annotations

from functools import lru_cache

Instant = tuple[int, int]

_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _digits(data: bytes, start: int, count: int) -> int | None:
    chunk = data[start : start + count]
    if len(chunk) != count or not all(48 <= byte <= 57 for byte in chunk):
        return None
    return int(chunk)


def _is_leap(year: int) -> bool:
    return (year % 4 == 0 and year % 100 != 0) or year % 400 == 0


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


@lru_cache(maxsize=4096)
def parse_instant(text: str) -> Instant | None:
    """The instant `text` names, or None when it is not an accepted RFC 3339 timestamp."""
    data = text.encode("utf-8", errors="surrogatepass")
    if len(data) < 20:
        return None
    year = _digits(data, 0, 4)
    month = _digits(data, 5, 2)
    day = _digits(data, 8, 2)
    hour = _digits(data, 11, 2)
    minute = _digits(data, 14, 2)
    second = _digits(data, 17, 2)
    if (
        year is None
        or month is None
        or day is None
        or hour is None
        or minute is None
        or second is None
        or data[4] != 0x2D
        or data[7] != 0x2D
        or data[10] not in b"Tt"
        or data[13] != 0x3A
        or data[16] != 0x3A
    ):
        return None
    if not 1 <= month <= 12:
        return None
    max_day = 29 if month == 2 and _is_leap(year) else _MONTH_DAYS[month - 1]
    if not 1 <= day <= max_day or hour > 23 or minute > 59 or second > 59:
        return None
    at = 19
    nanos = 0
    if at < len(data) and data[at] == 0x2E:
        at += 1
        start = at
        while at < len(data) and 48 <= data[at] <= 57:
            if at - start >= 9:
                return None
            at += 1
        if at == start:
            return None
        nanos = int(data[start:at]) * 10 ** (9 - (at - start))
    if at >= len(data):
        return None
    marker = data[at]
    if marker in b"Zz" and at + 1 == len(data):
        offset = 0
    elif marker in b"+-" and at + 6 == len(data):
        offset_hour = _digits(data, at + 1, 2)
        offset_minute = _digits(data, at + 4, 2)
        if offset_hour is None or offset_minute is None or data[at + 3] != 0x3A:
            return None
        if offset_hour > 23 or offset_minute > 59:
            return None
        offset = (offset_hour * 3600 + offset_minute * 60) * (1 if marker == 0x2B else -1)
    else:
        return None
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    return seconds - offset, nanos
