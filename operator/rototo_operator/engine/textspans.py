"""Source positions: where each TOML value sits in its file, and line/character maths.

`tomllib` is the authority on whether a TOML file is valid and what it means; it does not
say where anything is. `toml_value_spans` re-reads a document that `tomllib` accepted and
records the character span of every table, array element and value, keyed by its path
(`("resolve", "rule", 0, "value")`), so diagnostics can point at the exact text the way the
reference does:

- a string value spans its quotes (multi-line delimiters included);
- an inline table or array spans its brackets;
- a `[header]` table spans from its `[` to the end of its last value, or to the end of the
  header line when it holds none; a table created implicitly by a dotted header spans like
  the table that created it;
- the root table spans the whole document.

Limits: the scanner trusts that the text already parsed; if it meets something it does not
understand it gives up and returns what it found so far, and callers fall back to a
document-level location. Ranges are reported as zero-based lines and UTF-16 characters.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from rototo_operator.engine.diagnostics import Position, Range

Path = tuple[str | int, ...]
Span = tuple[int, int]

_BARE_KEY = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = set(",]}#\n\r \t")
_BARE_KEY_RUN = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_RUN = re.compile(r"[^,\]}#\n\r \t]+")


class _Stop(Exception):
    """The scanner met text it does not understand."""


@dataclass
class LineIndex:
    """Maps character offsets of one text to zero-based line / UTF-16 character positions."""

    text: str

    def __post_init__(self) -> None:
        self._starts = [0]
        for index, char in enumerate(self.text):
            if char == "\n":
                self._starts.append(index + 1)

    def position(self, offset: int) -> Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._starts, offset) - 1
        prefix = self.text[self._starts[line] : offset]
        # Editors count UTF-16 code units; astral characters take two.
        if prefix.isascii():
            return Position(line, len(prefix))
        return Position(line, len(prefix.encode("utf-16-le", "surrogatepass")) // 2)

    def range(self, start: int, end: int) -> Range:
        end = max(start, end)
        return Range(self.position(start), self.position(end))

    def offset(self, line: int, character: int) -> int:
        """The character offset of a zero-based line and UTF-16 character (clamped)."""
        if line >= len(self._starts):
            return len(self.text)
        start = self._starts[line]
        end = self._starts[line + 1] if line + 1 < len(self._starts) else len(self.text)
        units = 0
        for index in range(start, end):
            reached = units + (2 if ord(self.text[index]) > 0xFFFF else 1)
            if reached > character:
                return index
            if reached == character:
                return index + 1
            units = reached
        return end


class _TomlSpanScanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.spans: dict[Path, Span] = {(): (0, len(text))}
        # Mirrors the document's shape so headers find the last element of an array of
        # tables: dict for tables, list of dicts for arrays of tables.
        self.tree: dict[str, object] = {}
        self.table_path: Path = ()
        # Tables created by the current header, which its values extend.
        self.growing: list[Path] = []
        # Where the string being read began, so a parse error can point at its quote.
        self.string_start: int | None = None

    # -- low-level helpers -------------------------------------------------------------
    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def skip_comment(self) -> None:
        if self.peek() == "#":
            while self.peek() not in ("\n", ""):
                self.pos += 1

    def skip_line_end(self) -> None:
        self.skip_ws()
        self.skip_comment()
        if self.peek() == "\r":
            self.pos += 1
        if self.peek() == "\n":
            self.pos += 1

    def skip_blank(self) -> None:
        """Whitespace, comments and newlines (inside arrays)."""
        while True:
            char = self.peek()
            if char in (" ", "\t", "\r", "\n"):
                self.pos += 1
            elif char == "#":
                self.skip_comment()
            else:
                return

    # -- keys --------------------------------------------------------------------------
    def read_key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_ws()
            char = self.peek()
            if char == '"':
                parts.append(self.read_basic_string_body())
            elif char == "'":
                parts.append(self.read_literal_string_body())
            elif char in _BARE_KEY:
                match = _BARE_KEY_RUN.match(self.text, self.pos)
                assert match is not None
                parts.append(match.group())
                self.pos = match.end()
            else:
                raise _Stop
            self.skip_ws()
            if self.peek() == ".":
                self.pos += 1
                continue
            return parts

    def read_basic_string_body(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            char = self.peek()
            if char in ("", "\n"):
                raise _Stop
            if char == "\\":
                escaped = self.peek(1)
                simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"'}
                if escaped == "\\":
                    out.append("\\")
                    self.pos += 2
                elif escaped in simple:
                    out.append(simple[escaped])
                    self.pos += 2
                elif escaped in ("u", "U"):
                    width = 4 if escaped == "u" else 8
                    code = self.text[self.pos + 2 : self.pos + 2 + width]
                    out.append(chr(int(code, 16)))
                    self.pos += 2 + width
                else:
                    raise _Stop
                continue
            self.pos += 1
            if char == '"':
                return "".join(out)
            out.append(char)

    def read_literal_string_body(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise _Stop
        body = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return body

    # -- values ------------------------------------------------------------------------
    def read_value(self, path: Path) -> Span:
        """Read one value starting at the cursor, recording spans below `path`."""
        start = self.pos
        char = self.peek()
        if char in ('"', "'"):
            self.string_start = start
        if self.text.startswith('"""', self.pos) or self.text.startswith("'''", self.pos):
            self.skip_multiline_string(self.text[self.pos : self.pos + 3])
        elif char == '"':
            self.read_basic_string_body()
        elif char == "'":
            self.read_literal_string_body()
        elif char == "[":
            self.read_array(path)
        elif char == "{":
            self.read_inline_table(path)
        else:
            match = _SCALAR_RUN.match(self.text, self.pos)
            self.pos = match.end() if match is not None else self.pos
            # A date-time may hold one space between date and time.
            if (
                self.peek() == " "
                and self.peek(1).isdigit()
                and self.text[start : self.pos].count("-") == 2
            ):
                self.pos += 1
                while self.peek() not in _SCALAR_END and self.peek() != "":
                    self.pos += 1
            if self.pos == start:
                raise _Stop
        span = (start, self.pos)
        self.spans[path] = span
        return span

    def skip_multiline_string(self, delimiter: str) -> None:
        self.pos += 3
        while True:
            if self.pos >= len(self.text):
                raise _Stop
            if delimiter == '"""' and self.peek() == "\\":
                self.pos += 2
                continue
            if self.text.startswith(delimiter, self.pos):
                self.pos += 3
                # Up to two quote characters may close the string's content.
                extra = 0
                while extra < 2 and self.peek() == delimiter[0]:
                    self.pos += 1
                    extra += 1
                return
            self.pos += 1

    def read_array(self, path: Path) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.pos += 1
                return
            self.read_value((*path, index))
            index += 1
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == "]":
                self.pos += 1
                return
            else:
                raise _Stop

    def read_inline_table(self, path: Path) -> None:
        self.pos += 1
        while True:
            self.skip_ws()
            if self.peek() == "}":
                self.pos += 1
                return
            key_start = self.pos
            key = self.read_key()
            if self.peek() != "=":
                raise _Stop
            self.pos += 1
            self.skip_ws()
            span = self.read_value((*path, *key))
            self.note_dotted_parents(path, key, key_start, span[1])
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == "}":
                self.pos += 1
                return
            else:
                raise _Stop

    def note_dotted_parents(self, base: Path, key: list[str], start: int, end: int) -> None:
        for depth in range(1, len(key)):
            parent = (*base, *key[:depth])
            old = self.spans.get(parent)
            self.spans[parent] = (old[0] if old else start, end)

    # -- tables ------------------------------------------------------------------------
    def concrete_path(self, keys: list[str], *, append: bool) -> Path:
        """Turn header keys into a path through the tree, entering arrays' last tables."""
        node: dict[str, object] = self.tree
        path: list[str | int] = []
        for position, key in enumerate(keys):
            last = position == len(keys) - 1
            path.append(key)
            child = node.get(key)
            if last and append:
                if not isinstance(child, list):
                    child = []
                    node[key] = child
                child.append({})
                path.append(len(child) - 1)
                node = child[-1]
                break
            if child is None:
                child = {}
                node[key] = child
            if isinstance(child, list):
                path.append(len(child) - 1)
                node = child[-1]
            elif isinstance(child, dict):
                node = child
            else:
                raise _Stop
        return tuple(path)

    def extend_tables(self, end: int) -> None:
        """A value ends under the current header: the tables that header created grow."""
        for path in self.growing:
            old = self.spans[path]
            if old[1] < end:
                self.spans[path] = (old[0], end)

    def read_header(self) -> None:
        start = self.pos
        append = self.text.startswith("[[", self.pos)
        self.pos += 2 if append else 1
        keys = self.read_key()
        closing = "]]" if append else "]"
        if not self.text.startswith(closing, self.pos):
            raise _Stop
        self.pos += len(closing)
        self.skip_line_end()
        path = self.concrete_path(keys, append=append)
        self.table_path = path
        header_end = self.pos
        # A table's span is fixed by the header that creates it (its own, or a child's
        # for a table created implicitly) and grows only with that header's values; later
        # headers, even one re-opening it, leave it alone.
        self.growing = []
        for depth in range(1, len(path) + 1):
            prefix = path[:depth]
            if isinstance(prefix[-1], int) and prefix != path:
                continue
            if prefix not in self.spans:
                self.spans[prefix] = (start, header_end)
                self.growing.append(prefix)

    def scan(self) -> dict[Path, Span]:
        try:
            while self.pos < len(self.text):
                self.skip_blank()
                if self.pos >= len(self.text):
                    break
                if self.peek() == "[":
                    self.read_header()
                    continue
                key_start = self.pos
                key = self.read_key()
                if self.peek() != "=":
                    raise _Stop
                self.pos += 1
                self.skip_ws()
                span = self.read_value((*self.table_path, *key))
                self.note_dotted_parents(self.table_path, key, key_start, span[1])
                self.extend_tables(span[1])
                self.skip_line_end()
        except (_Stop, ValueError, IndexError):
            pass
        return self.spans


def unterminated_string_start(text: str) -> int | None:
    """Where the string that never closes begins (for a parse error's location)."""
    scanner = _TomlSpanScanner(text)
    scanner.scan()
    return scanner.string_start


def toml_value_spans(text: str) -> dict[Path, Span]:
    """Character spans of the values of a TOML document that `tomllib` already accepted."""
    return _TomlSpanScanner(text).scan()
