"""Where, and how, the reference's JSON reader reports a syntax error.

Python's `json` module and the reference (serde_json) agree on what is valid JSON but not on
where an error is: Python points at the start of the offending token, serde_json at the
byte it was reading when it gave up (one-based line, column counted in bytes), with its
own wording ("EOF while parsing a string", "expected `,` or `}`", ...). Diagnostics should
point where the reference points, so `locate_json_error` re-reads an invalid document the
way serde_json does and returns its message and position.

Limits: only called for text Python already rejected; numbers are range-checked as f64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_WHITESPACE = b" \t\n\r"
_ESCAPES = b'"\\/bfnrtu'
_HEX = b"0123456789abcdefABCDEF"


@dataclass(frozen=True)
class JsonSyntaxError:
    message: str
    line: int  # one-based
    column: int  # bytes consumed on that line when the reader stopped


class _Stop(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.index = 0
        self.line = 1
        self.column = 0

    def peek(self) -> int | None:
        return self.data[self.index] if self.index < len(self.data) else None

    def next(self) -> int | None:
        byte = self.peek()
        if byte is None:
            return None
        self.index += 1
        if byte == 0x0A:
            self.line += 1
            self.column = 0
        else:
            self.column += 1
        return byte

    def skip_whitespace(self) -> int | None:
        while (byte := self.peek()) is not None and byte in _WHITESPACE:
            self.next()
        return self.peek()

    def fail(self, message: str) -> _Stop:
        return _Stop(message)

    def fail_at_next(self, message: str) -> _Stop:
        """Errors about an unexpected byte are reported after reading it."""
        self.next()
        return _Stop(message)

    # -- grammar -------------------------------------------------------------------
    def document(self) -> None:
        self.value()
        if self.skip_whitespace() is not None:
            raise self.fail_at_next("trailing characters")

    def value(self) -> None:
        byte = self.skip_whitespace()
        if byte is None:
            raise self.fail("EOF while parsing a value")
        if byte == ord("{"):
            self.object()
        elif byte == ord("["):
            self.array()
        elif byte == ord('"'):
            self.next()
            self.string()
        elif byte == ord("-") or 0x30 <= byte <= 0x39:
            self.number()
        elif byte in b"tfn":
            word = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}[byte]
            self.next()
            for expected in word[1:]:
                got = self.peek()
                if got is None:
                    raise self.fail("EOF while parsing a value")
                if got != expected:
                    raise self.fail_at_next("expected ident")
                self.next()
        else:
            raise self.fail_at_next("expected value")

    def object(self) -> None:
        self.next()
        byte = self.skip_whitespace()
        if byte == ord("}"):
            self.next()
            return
        while True:
            if byte is None:
                raise self.fail("EOF while parsing an object")
            if byte != ord('"'):
                raise self.fail_at_next("key must be a string")
            self.next()
            self.string()
            byte = self.skip_whitespace()
            if byte is None:
                raise self.fail("EOF while parsing an object")
            if byte != ord(":"):
                raise self.fail_at_next("expected `:`")
            self.next()
            self.value()
            byte = self.skip_whitespace()
            if byte is None:
                raise self.fail("EOF while parsing an object")
            if byte == ord("}"):
                self.next()
                return
            if byte != ord(","):
                raise self.fail_at_next("expected `,` or `}`")
            self.next()
            byte = self.skip_whitespace()
            if byte == ord("}"):
                raise self.fail_at_next("trailing comma")

    def array(self) -> None:
        self.next()
        byte = self.skip_whitespace()
        if byte == ord("]"):
            self.next()
            return
        while True:
            if byte is None:
                raise self.fail("EOF while parsing a list")
            self.value()
            byte = self.skip_whitespace()
            if byte is None:
                raise self.fail("EOF while parsing a list")
            if byte == ord("]"):
                self.next()
                return
            if byte != ord(","):
                raise self.fail_at_next("expected `,` or `]`")
            self.next()
            byte = self.skip_whitespace()
            if byte == ord("]"):
                raise self.fail_at_next("trailing comma")

    def string(self) -> None:
        while True:
            byte = self.peek()
            if byte is None:
                raise self.fail("EOF while parsing a string")
            self.next()
            if byte == ord('"'):
                return
            if byte < 0x20:
                raise self.fail("control character (\\u0000-\\u001F) found while parsing a string")
            if byte == ord("\\"):
                escape = self.peek()
                if escape is None:
                    raise self.fail("EOF while parsing a string")
                self.next()
                if escape not in _ESCAPES:
                    raise self.fail("invalid escape")
                if escape == ord("u"):
                    self.unicode_escape()

    def hex_escape(self) -> int:
        # All four digits are read before any is checked.
        digits = bytearray()
        for _ in range(4):
            digit = self.next()
            if digit is None:
                raise self.fail("EOF while parsing a string")
            digits.append(digit)
        if any(digit not in _HEX for digit in digits):
            raise self.fail("invalid escape")
        return int(digits.decode("ascii"), 16)

    def unicode_escape(self) -> None:
        """`\\uXXXX`, where a surrogate must come as a leading/trailing pair."""
        first = self.hex_escape()
        if 0xDC00 <= first <= 0xDFFF:
            raise self.fail("lone leading surrogate in hex escape")
        if not 0xD800 <= first <= 0xDBFF:
            return
        for expected in (ord("\\"), ord("u")):
            byte = self.peek()
            if byte is None:
                raise self.fail("EOF while parsing a string")
            if byte != expected:
                raise self.fail_at_next("unexpected end of hex escape")
            self.next()
        if not 0xDC00 <= self.hex_escape() <= 0xDFFF:
            raise self.fail("lone leading surrogate in hex escape")

    def digits(self) -> bytes:
        start = self.index
        while (byte := self.peek()) is not None and 0x30 <= byte <= 0x39:
            self.next()
        return self.data[start : self.index]

    def number(self) -> None:
        start = self.index
        if self.peek() == ord("-"):
            self.next()
        first = self.peek()
        if first is None:
            raise self.fail("EOF while parsing a value")
        if not 0x30 <= first <= 0x39:
            raise self.fail_at_next("invalid number")
        self.next()
        if first == ord("0"):
            following = self.peek()
            if following is not None and 0x30 <= following <= 0x39:
                raise self.fail_at_next("invalid number")
        else:
            self.digits()
        if self.peek() == ord("."):
            self.next()
            if self.peek() is None:
                raise self.fail("EOF while parsing a value")
            if not self.digits():
                raise self.fail_at_next("invalid number")
        if self.peek() in (ord("e"), ord("E")):
            self.next()
            if self.peek() in (ord("+"), ord("-")):
                self.next()
            if self.peek() is None:
                raise self.fail("EOF while parsing a value")
            if not self.digits():
                raise self.fail_at_next("invalid number")
        text = self.data[start : self.index].decode("ascii")
        if math.isinf(float(text)):
            raise self.fail("number out of range")


def locate_json_error(text: str) -> JsonSyntaxError | None:
    """The reference's message and position for invalid JSON `text`; None if it reads."""
    reader = _Reader(text.encode("utf-8", "surrogatepass"))
    try:
        reader.document()
    except _Stop as stop:
        return JsonSyntaxError(stop.message, reader.line, reader.column)
    return None
