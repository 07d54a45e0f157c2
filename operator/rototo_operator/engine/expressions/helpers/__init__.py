"""Helper functions of the expression profile, each matching the reference's crate.

`bucket` (FNV-1a), `timestamps` (RFC 3339 instants), `cidr` (IP blocks), `glob`
(the `glob` crate's patterns), `semver` (the `semver` crate's versions and
requirements) and `regex` (Rust `regex` syntax on RE2). Each raises `HelperError`
with the reference's message text; the evaluator turns it into ExpressionEvalError.
"""

from __future__ import annotations


class HelperError(ValueError):
    """A helper argument is invalid; the message is the reference's wording."""
