"""Cases where this engine follows rototo's documentation rather than the reference engine.

Each deviation is listed in docs/compatibility.md. Differential tests call these predicates
to leave out exactly the cases a deviation covers, and nothing more; unit tests pin what
this engine does instead.
"""

from __future__ import annotations

from rototo_operator.engine.expressions.errors import ExpressionSyntaxError
from rototo_operator.engine.expressions.lexer import Kind, tokenize


def non_ascii_string_literal(expression: str) -> bool:
    """True when a string literal in `expression` holds non-ASCII text.

    The reference reads such a literal one byte per character ("é" becomes "Ã©"), so
    comparisons, helpers and error messages quoting it differ; we decode it as UTF-8.
    """
    try:
        tokens = tokenize(expression)
    except ExpressionSyntaxError:
        # Lexing errors never quote a literal's contents, so the engines still agree.
        return False
    return any(token.kind is Kind.STRING and not token.text.isascii() for token in tokens)
