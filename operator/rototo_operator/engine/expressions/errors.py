"""Errors raised by the expression profile.

    RototoError
     ├── ExpressionSyntaxError      the `when` text does not parse (carries `.offset`)
     ├── WorkspaceLoadError
     │    └── ExpressionFormatError  a stored (JSON) expression tree is corrupt
     └── ResolutionError
          └── ExpressionEvalError    evaluation failed (missing path, bad helper argument,
               │                     qualifier cycle)
               └── QualifierCycleError

Messages reproduce the reference engine's wording so that operators see the same text
whichever engine answered; the extra fields (`offset`, `cycle`) carry what the wording
alone does not.
"""

from __future__ import annotations

from rototo_operator import errors


class ExpressionSyntaxError(errors.RototoError):
    """The expression text is not in the profile's grammar.

    `offset` is the character index in the source where the problem was found.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message


class ExpressionFormatError(errors.WorkspaceLoadError):
    """A serialized expression tree does not have the documented shape."""


class ExpressionEvalError(errors.ResolutionError):
    """Evaluating an expression against a context failed."""


class QualifierCycleError(ExpressionEvalError):
    """Qualifier references form a cycle; `cycle` lists the ids from the first repeat."""

    def __init__(self, message: str, cycle: tuple[str, ...]) -> None:
        super().__init__(message)
        self.cycle = cycle
