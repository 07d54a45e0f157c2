"""Tokens of the expression profile, read the way the reference reads them.

The source is scanned as UTF-8 bytes. Outside string literals only ASCII is allowed;
inside one, text is decoded as UTF-8, so `"é"` is the one-character string "é". The
reference instead turns every byte into a character ("Ã©"), which breaks its documented
Unicode string helpers; we follow the documentation (docs/compatibility.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rototo_operator.engine.expressions.errors import ExpressionSyntaxError


class Kind(Enum):
    IDENT = "Ident"
    STRING = "String"
    NUMBER = "Number"
    LPAREN = "LParen"
    RPAREN = "RParen"
    LBRACKET = "LBracket"
    RBRACKET = "RBracket"
    DOT = "Dot"
    COMMA = "Comma"
    BANG = "Bang"
    EQEQ = "EqEq"
    NEQ = "Neq"
    LT = "Lt"
    LTE = "Lte"
    GT = "Gt"
    GTE = "Gte"
    ANDAND = "AndAnd"
    OROR = "OrOr"
    EOF = "Eof"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    offset: int  # character index in the source

    def debug(self) -> str:
        """The token as the reference prints it in messages (Rust `Debug`)."""
        if self.kind in (Kind.IDENT, Kind.STRING, Kind.NUMBER):
            return f"{self.kind.value}({rust_debug_str(self.text)})"
        return str(self.kind.value)


_SINGLE = {
    ord("("): Kind.LPAREN,
    ord(")"): Kind.RPAREN,
    ord("["): Kind.LBRACKET,
    ord("]"): Kind.RBRACKET,
    ord("."): Kind.DOT,
    ord(","): Kind.COMMA,
}
_ESCAPES = {
    ord('"'): '"',
    ord("'"): "'",
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}
_DIGITS = frozenset(b"0123456789")
_IDENT_START = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CONTINUE = _IDENT_START | _DIGITS | frozenset(b"-")
_SPACE = frozenset(b" \t\n\r")


def rust_debug_str(text: str) -> str:
    """Quote `text` like Rust's `{:?}` for the characters a token can hold."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == "\0":
            out.append("\\0")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif char == "\n":
            out.append("\\n")
        elif char in '\\"':
            out.append("\\" + char)
        elif code < 0x20 or 0x7F <= code <= 0x9F or code == 0xAD:
            out.append(f"\\u{{{code:x}}}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


class _CharOffsets:
    """Maps byte positions in the UTF-8 source to character positions."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __call__(self, byte_index: int) -> int:
        return len(self._data[:byte_index].decode("utf-8", errors="ignore"))


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens, ending with an EOF token."""
    data = source.encode("utf-8", errors="surrogatepass")
    at = _CharOffsets(data)
    tokens: list[Token] = []
    index = 0
    length = len(data)
    while index < length:
        byte = data[index]
        start = index
        if byte in _SPACE:
            index += 1
            continue
        kind = _SINGLE.get(byte)
        if kind is not None:
            index += 1
            tokens.append(Token(kind, chr(byte), at(start)))
            continue
        following = data[index + 1] if index + 1 < length else -1
        if byte == ord("!"):
            if following == ord("="):
                tokens.append(Token(Kind.NEQ, "!=", at(start)))
                index += 2
            else:
                tokens.append(Token(Kind.BANG, "!", at(start)))
                index += 1
        elif byte == ord("="):
            if following != ord("="):
                raise ExpressionSyntaxError("expected ==, found =", at(start))
            tokens.append(Token(Kind.EQEQ, "==", at(start)))
            index += 2
        elif byte in (ord("<"), ord(">")):
            strict, inclusive = (Kind.LT, Kind.LTE) if byte == ord("<") else (Kind.GT, Kind.GTE)
            if following == ord("="):
                tokens.append(Token(inclusive, chr(byte) + "=", at(start)))
                index += 2
            else:
                tokens.append(Token(strict, chr(byte), at(start)))
                index += 1
        elif byte == ord("&"):
            if following != ord("&"):
                raise ExpressionSyntaxError("expected &&, found &", at(start))
            tokens.append(Token(Kind.ANDAND, "&&", at(start)))
            index += 2
        elif byte == ord("|"):
            if following != ord("|"):
                raise ExpressionSyntaxError("expected ||, found |", at(start))
            tokens.append(Token(Kind.OROR, "||", at(start)))
            index += 2
        elif byte in (ord('"'), ord("'")):
            text, index = _string(data, index, at)
            tokens.append(Token(Kind.STRING, text, at(start)))
        elif byte == ord("-") or byte in _DIGITS:
            index = _number_end(data, index)
            tokens.append(Token(Kind.NUMBER, data[start:index].decode("ascii"), at(start)))
        elif byte in _IDENT_START:
            index += 1
            while index < length and data[index] in _IDENT_CONTINUE:
                index += 1
            tokens.append(Token(Kind.IDENT, data[start:index].decode("ascii"), at(start)))
        else:
            char = data[start:].decode("utf-8", errors="replace")[:1]
            raise ExpressionSyntaxError(f"unexpected character in expression: {char}", at(start))
    tokens.append(Token(Kind.EOF, "", at(length)))
    return tokens


def _string(data: bytes, index: int, at: _CharOffsets) -> tuple[str, int]:
    quote = data[index]
    index += 1
    out: list[str] = []
    length = len(data)
    run = index  # start of the current run of unescaped bytes
    while index < length:
        byte = data[index]
        index += 1
        if byte != quote and byte != ord("\\"):
            continue
        # Quotes and backslashes are ASCII, so a run never splits a UTF-8 sequence.
        out.append(data[run : index - 1].decode("utf-8", errors="surrogatepass"))
        if byte == quote:
            return "".join(out), index
        if index >= length:
            raise ExpressionSyntaxError("unterminated string escape", at(index))
        escaped = data[index]
        index += 1
        replacement = _ESCAPES.get(escaped)
        if replacement is None:
            raise ExpressionSyntaxError(
                f"unsupported string escape: \\{chr(escaped)}", at(index - 2)
            )
        out.append(replacement)
        run = index
    raise ExpressionSyntaxError("unterminated string literal", at(length))


def _number_end(data: bytes, index: int) -> int:
    length = len(data)

    def digits(i: int) -> int:
        while i < length and data[i] in _DIGITS:
            i += 1
        return i

    if data[index] == ord("-"):
        index += 1
    index = digits(index)
    if index < length and data[index] == ord("."):
        index = digits(index + 1)
    if index < length and data[index] in (ord("e"), ord("E")):
        index += 1
        if index < length and data[index] in (ord("+"), ord("-")):
            index += 1
        index = digits(index)
    return index
