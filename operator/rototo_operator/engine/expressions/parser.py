"""Recursive-descent parser for the expression profile.

Precedence, loosest first: `||`, `&&` (each chain kept as one flat node), then `==`
`!=` `in` (one level, left to right), then `<` `<=` `>` `>=`, then prefix `!`, then
primaries (literals, lists, `( )`,
`context.…`/`entry.…` paths, `qualifier["id"]`/`qualifier.id`, `name(args…)`).
Function names are not checked here: like the reference, an unknown function is an
evaluation error, so lint (not the parser) is where it is caught ahead of time.
Messages match the reference's; `offset` points at the offending token.
"""

from __future__ import annotations

from rototo_operator.engine.expressions import ast
from rototo_operator.engine.expressions.errors import ExpressionSyntaxError
from rototo_operator.engine.expressions.lexer import Kind, Token, tokenize

_EQUALITY: dict[Kind, ast.BinaryOp] = {Kind.EQEQ: "==", Kind.NEQ: "!="}
_COMPARISON: dict[Kind, ast.BinaryOp] = {
    Kind.LT: "<",
    Kind.LTE: "<=",
    Kind.GT: ">",
    Kind.GTE: ">=",
}
_KEYWORDS: dict[str, ast.Scalar] = {"true": True, "false": False, "null": None}


def parse_tree(source: str) -> ast.Node:
    """Parse `source` into a tree; raise ExpressionSyntaxError when it is not valid."""
    return _Parser(tokenize(source)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    def parse(self) -> ast.Node:
        node = self._or()
        current = self._current()
        if current.kind is not Kind.EOF:
            raise ExpressionSyntaxError(
                f"unexpected token after expression: {current.debug()}", current.offset
            )
        return node

    # `||` and `&&` chains become one flat node; the other levels are left-associative.
    def _or(self) -> ast.Node:
        operands = [self._and()]
        while self._match(Kind.OROR):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else ast.LogicalNode("||", tuple(operands))

    def _and(self) -> ast.Node:
        operands = [self._equality()]
        while self._match(Kind.ANDAND):
            operands.append(self._equality())
        return operands[0] if len(operands) == 1 else ast.LogicalNode("&&", tuple(operands))

    def _equality(self) -> ast.Node:
        node = self._comparison()
        while True:
            current = self._current()
            op = _EQUALITY.get(current.kind)
            if op is None and current.kind is Kind.IDENT and current.text == "in":
                op = "in"
            if op is None:
                return node
            self._index += 1
            node = ast.BinaryNode(op, node, self._comparison())

    def _comparison(self) -> ast.Node:
        node = self._unary()
        while True:
            op = _COMPARISON.get(self._current().kind)
            if op is None:
                return node
            self._index += 1
            node = ast.BinaryNode(op, node, self._unary())

    def _unary(self) -> ast.Node:
        negations = 0
        while self._match(Kind.BANG):
            negations += 1
        node = self._primary()
        for _ in range(negations):
            node = ast.NotNode(node)
        return node

    def _primary(self) -> ast.Node:
        token = self._advance()
        if token.kind is Kind.IDENT:
            return self._ident(token)
        if token.kind is Kind.STRING:
            return ast.LiteralNode(token.text)
        if token.kind is Kind.NUMBER:
            return ast.LiteralNode(_number(token))
        if token.kind is Kind.LPAREN:
            node = self._or()
            self._expect(Kind.RPAREN, "expected )")
            return node
        if token.kind is Kind.LBRACKET:
            return ast.ListNode(self._sequence(Kind.RBRACKET, "expected , between list values"))
        raise ExpressionSyntaxError(f"expected expression, found {token.debug()}", token.offset)

    def _ident(self, token: Token) -> ast.Node:
        name = token.text
        if name in _KEYWORDS:
            return ast.LiteralNode(_KEYWORDS[name])
        if self._match(Kind.LPAREN):
            return ast.CallNode(
                name, self._sequence(Kind.RPAREN, "expected , between function arguments")
            )
        if name == "qualifier":
            return self._qualifier()
        if name == "context":
            return self._path("context")
        if name == "entry":
            return self._path("entry")
        raise ExpressionSyntaxError(f"unknown identifier in expression: {name}", token.offset)

    def _sequence(self, closing: Kind, separator_message: str) -> tuple[ast.Node, ...]:
        items: list[ast.Node] = []
        if self._match(closing):
            return ()
        while True:
            items.append(self._or())
            if self._match(closing):
                return tuple(items)
            self._expect(Kind.COMMA, separator_message)

    def _qualifier(self) -> ast.Node:
        shape_message = 'qualifier reference must use qualifier["id"]'
        if self._match(Kind.LBRACKET):
            token = self._advance()
            if token.kind is not Kind.STRING:
                raise ExpressionSyntaxError(shape_message, token.offset)
            self._expect(Kind.RBRACKET, "expected ] after qualifier id")
            return ast.QualifierNode(token.text)
        if self._match(Kind.DOT):
            token = self._advance()
            if token.kind is not Kind.IDENT:
                raise ExpressionSyntaxError(
                    "qualifier reference must name a qualifier", token.offset
                )
            return ast.QualifierNode(token.text)
        raise ExpressionSyntaxError(shape_message, self._current().offset)

    def _path(self, root: ast.PathRoot) -> ast.Node:
        segments: list[str] = []
        while True:
            if self._match(Kind.DOT):
                token = self._advance()
                if token.kind is not Kind.IDENT:
                    raise ExpressionSyntaxError("expected path segment after .", token.offset)
                segments.append(token.text)
            elif self._match(Kind.LBRACKET):
                token = self._advance()
                if token.kind is not Kind.STRING:
                    raise ExpressionSyntaxError(
                        "path bracket lookup must use a string literal", token.offset
                    )
                self._expect(Kind.RBRACKET, "expected ] after path segment")
                segments.append(token.text)
            else:
                return ast.PathNode(root, tuple(segments))

    def _current(self) -> Token:
        return self._tokens[min(self._index, len(self._tokens) - 1)]

    def _advance(self) -> Token:
        token = self._current()
        self._index += 1
        return token

    def _match(self, kind: Kind) -> bool:
        if self._current().kind is kind:
            self._index += 1
            return True
        return False

    def _expect(self, kind: Kind, message: str) -> None:
        if not self._match(kind):
            raise ExpressionSyntaxError(message, self._current().offset)


def _number(token: Token) -> int | float:
    text = token.text
    invalid = ExpressionSyntaxError(f"invalid number literal: {text}", token.offset)
    if "." in text or "e" in text or "E" in text:
        try:
            value = float(_rust_float_text(text))
        except ValueError:
            raise invalid from None
        if value in (float("inf"), float("-inf")):
            raise invalid
        return value
    digits = text[1:] if text.startswith("-") else text
    if not digits:
        raise invalid
    value_int = int(text)
    if not ast.INT_MIN <= value_int <= ast.UINT_MAX:
        raise invalid
    # The reference stores -0 as the integer 0.
    return value_int


def _rust_float_text(text: str) -> str:
    """Check `text` against Rust's f64 grammar (`1.`, `.5`, `1e5` yes; `1e`, `.` no)."""
    body = text[1:] if text.startswith("-") else text
    mantissa, _, exponent = body.replace("E", "e").partition("e")
    whole, _, fraction = mantissa.partition(".")
    if not (whole or fraction):
        raise ValueError(text)
    if "e" in body.lower():
        digits = exponent[1:] if exponent[:1] in ("+", "-") else exponent
        if not digits:
            raise ValueError(text)
    return text
