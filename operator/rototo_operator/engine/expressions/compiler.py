"""Compile an expression tree once into nested closures.

Each node becomes a small function of `EvalEnv`; dispatch on node kind, operator and
helper name happens here, once, not per evaluation. Constant operands are folded
(literal lists, salts, patterns, requirements, instants, CIDR blocks) when they are
valid; an invalid constant keeps the general path so its error is raised at the same
moment, with the same text, as in the reference engine.

Evaluation order and errors follow the reference: operands left to right, `&&`/`||`
short-circuit, helper arguments all evaluated before the helper checks its arity and
types, `has()` never reads its path as a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rototo_operator.engine.expressions import ast, values
from rototo_operator.engine.expressions.errors import ExpressionEvalError
from rototo_operator.engine.expressions.expression import MISSING, EvalEnv, Predicate
from rototo_operator.engine.expressions.helpers import HelperError, timestamps
from rototo_operator.engine.expressions.helpers import bucket as bucket_helper
from rototo_operator.engine.expressions.helpers import cidr as cidr_helper
from rototo_operator.engine.expressions.helpers import glob as glob_helper
from rototo_operator.engine.expressions.helpers import regex as regex_helper
from rototo_operator.engine.expressions.helpers import semver as semver_helper

Eval = Callable[[EvalEnv], Any]
BoolEval = Callable[[EvalEnv], bool]

# Functions whose result is always a bool (everything but `path` and `size`).
BOOL_FUNCTIONS = frozenset(
    {
        "has",
        "present",
        "missing",
        "startsWith",
        "starts_with",
        "prefix",
        "endsWith",
        "ends_with",
        "suffix",
        "contains",
        "matches",
        "regex",
        "glob",
        "semver",
        "timeAfter",
        "time_after",
        "timeAtOrAfter",
        "time_at_or_after",
        "timeBefore",
        "time_before",
        "timeAtOrBefore",
        "time_at_or_before",
        "timeBetween",
        "time_between",
        "bucket",
        "cidr",
    }
)
VALUE_FUNCTIONS = frozenset({"path", "size"})
KNOWN_FUNCTIONS = BOOL_FUNCTIONS | VALUE_FUNCTIONS


def compile_predicate(root: ast.Node, source: str) -> Predicate:
    """The whole expression as a predicate; a non-bool result is an evaluation error."""
    evaluate = _value(root)
    message = f"expression did not evaluate to bool: {source}"

    def predicate(env: EvalEnv) -> bool:
        try:
            result = evaluate(env)
        except RecursionError:
            raise ExpressionEvalError("expression is nested too deeply to evaluate") from None
        if result is True or result is False:
            return result
        raise ExpressionEvalError(message)

    return predicate


def _produces_bool(node: ast.Node) -> bool:
    if isinstance(node, ast.LiteralNode):
        return isinstance(node.value, bool)
    if isinstance(node, ast.CallNode):
        # Unknown functions raise rather than return, so they never yield a non-bool.
        return node.name not in VALUE_FUNCTIONS
    return isinstance(node, ast.QualifierNode | ast.NotNode | ast.LogicalNode | ast.BinaryNode)


def _bool(node: ast.Node) -> BoolEval:
    evaluate = _value(node)
    if _produces_bool(node):
        return evaluate

    def operand(env: EvalEnv) -> bool:
        result = evaluate(env)
        if result is True or result is False:
            return result
        raise ExpressionEvalError("expression operand must be bool")

    return operand


def _value(node: ast.Node) -> Eval:
    # One dict lookup on the node's exact class instead of a chain of isinstance tests
    # (node classes are final dataclasses; compiled-model loads build thousands).
    build = _BUILDERS.get(type(node))
    if build is not None:
        return build(node)
    if isinstance(node, ast.LiteralNode):
        return _constant(node.value)
    if isinstance(node, ast.ListNode):
        return _list(node)
    if isinstance(node, ast.PathNode):
        return _path(node)
    if isinstance(node, ast.QualifierNode):
        return _qualifier(node.qualifier_id)
    if isinstance(node, ast.NotNode):
        return _not(node)
    if isinstance(node, ast.LogicalNode):
        return _logical(node)
    if isinstance(node, ast.BinaryNode):
        return _binary(node)
    return _call(node)


def _not(node: ast.NotNode) -> Eval:
    operand = _bool(node.operand)
    return lambda env: not operand(env)


def _constant(value: Any) -> Eval:
    return lambda env: value


def _constant_value(node: ast.Node) -> tuple[bool, Any]:
    """(True, value) when `node` is a literal or a list of constants."""
    if isinstance(node, ast.LiteralNode):
        return True, node.value
    if isinstance(node, ast.ListNode):
        items = []
        for item in node.items:
            known, value = _constant_value(item)
            if not known:
                return False, None
            items.append(value)
        return True, items
    return False, None


def _list(node: ast.ListNode) -> Eval:
    known, value = _constant_value(node)
    if known:
        return _constant(value)
    items = [_value(item) for item in node.items]
    return lambda env: [item(env) for item in items]


def _lookup(node: ast.PathNode) -> Callable[[EvalEnv], Any]:
    """A function returning the value at the path, or MISSING."""
    segments = node.segments
    from_entry = node.root == "entry"

    def lookup(env: EvalEnv) -> Any:
        current: Any = env.entry if from_entry else env.context
        if current is MISSING:
            return MISSING
        for segment in segments:
            if not isinstance(current, Mapping):
                return MISSING
            current = current.get(segment, MISSING)
            if current is MISSING:
                return MISSING
        return current

    if from_entry or len(segments) > 2:
        return lookup
    # The common short context paths, without the loop.
    if not segments:
        return lambda env: env.context
    if len(segments) == 1:
        (first,) = segments

        def lookup_one(env: EvalEnv) -> Any:
            return env.context.get(first, MISSING)

        return lookup_one
    first, second = segments

    def lookup_two(env: EvalEnv) -> Any:
        middle = env.context.get(first, MISSING)
        return middle.get(second, MISSING) if isinstance(middle, Mapping) else MISSING

    return lookup_two


def _path(node: ast.PathNode) -> Eval:
    lookup = _lookup(node)
    message = f"expression path is missing: {node.dotted()}"

    def read(env: EvalEnv) -> Any:
        value = lookup(env)
        if value is MISSING:
            raise ExpressionEvalError(message)
        return value

    return read


def _qualifier(qualifier_id: str) -> Eval:
    def reference(env: EvalEnv) -> bool:
        result = env.qualifier(qualifier_id)
        if result is True or result is False:
            return result
        raise ExpressionEvalError(
            f"qualifier://{qualifier_id} did not resolve to a boolean: {result!r}"
        )

    return reference


def _equals_constant(constant: Any) -> Callable[[Any], bool]:
    """`x == constant` with the reference's equality, specialised on the constant's kind."""
    if constant is None:
        return lambda value: value is None
    if isinstance(constant, bool):
        return lambda value: value is constant
    if isinstance(constant, str):
        return lambda value: isinstance(value, str) and value == constant
    if values.is_number(constant):
        return lambda value: values.is_number(value) and values.numbers_equal(value, constant)
    return lambda value: values.values_equal(value, constant)


def _logical(node: ast.LogicalNode) -> Eval:
    operands = tuple(_bool(operand) for operand in node.operands)
    if len(operands) == 2:
        first, second = operands
        if node.op == "&&":
            return lambda env: first(env) and second(env)
        return lambda env: first(env) or second(env)
    if node.op == "&&":

        def every(env: EvalEnv) -> bool:
            return all(operand(env) for operand in operands)

        return every

    def some(env: EvalEnv) -> bool:
        return any(operand(env) for operand in operands)

    return some


def _binary(node: ast.BinaryNode) -> Eval:
    op = node.op
    left = _value(node.left)
    right_known, right_constant = _constant_value(node.right)
    if op in ("==", "!=") and right_known:
        test = _equals_constant(right_constant)
        if op == "==":
            return lambda env: test(left(env))
        return lambda env: not test(left(env))
    if op == "in" and right_known:
        return _in_constant(left, right_constant)
    right = _value(node.right)
    if op == "==":
        return lambda env: values.values_equal(left(env), right(env))
    if op == "!=":
        return lambda env: not values.values_equal(left(env), right(env))
    if op == "in":

        def member(env: EvalEnv) -> bool:
            needle = left(env)
            haystack = right(env)
            if not isinstance(haystack, list):
                return False
            return any(values.values_equal(item, needle) for item in haystack)

        return member
    accept = {"<": (-1,), "<=": (-1, 0), ">": (1,), ">=": (1, 0)}[op]
    if right_known and values.is_number(right_constant):
        return _compare_to_number(left, op, right_constant, accept)

    def compare(env: EvalEnv) -> bool:
        return values.ordered(left(env), right(env)) in accept

    return compare


_EXACT_FLOAT_INT = 2**53


def _compare_to_number(left: Eval, op: str, constant: int | float, accept: tuple[int, ...]) -> Eval:
    """`x < 5` and friends: a plain float comparison when `x` is an ordinary number."""
    bound = float(constant)
    test: Callable[[Any], bool] = {
        "<": lambda value: value < bound,
        "<=": lambda value: value <= bound,
        ">": lambda value: value > bound,
        ">=": lambda value: value >= bound,
    }[op]

    def compare(env: EvalEnv) -> bool:
        value = left(env)
        kind = value.__class__
        # Integers beyond 2**53 go through f64 like the reference; others compare exactly.
        if kind is float or (kind is int and -_EXACT_FLOAT_INT <= value <= _EXACT_FLOAT_INT):
            return test(value)
        return values.ordered(value, constant) in accept

    return compare


def _in_constant(left: Eval, haystack: Any) -> Eval:
    if not isinstance(haystack, list):

        def not_a_list(env: EvalEnv) -> bool:
            left(env)  # still evaluated: a missing path fails as in the reference
            return False

        return not_a_list
    if haystack and all(isinstance(item, str) for item in haystack):
        members = frozenset(haystack)

        def among_strings(env: EvalEnv) -> bool:
            value = left(env)
            return isinstance(value, str) and value in members

        return among_strings
    tests = [_equals_constant(item) for item in haystack]

    def among(env: EvalEnv) -> bool:
        value = left(env)
        return any(test(value) for test in tests)

    return among


# Helpers -------------------------------------------------------------------------------


def _string(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ExpressionEvalError(f"{name}() argument must be a string")


def _integer(name: str, value: Any) -> int:
    result = values.as_i64(value)
    if result is None:
        raise ExpressionEvalError(f"{name}() argument must be an integer")
    return result


def _instant(name: str, value: Any) -> timestamps.Instant:
    instant = timestamps.parse_instant(_string(name, value))
    if instant is None:
        raise ExpressionEvalError(f"{name}() argument must be an RFC3339 timestamp")
    return instant


def _pointer(value: Any, pointer: str) -> Any:
    """serde_json's JSON Pointer lookup; MISSING when absent."""
    if not pointer:
        return value
    if not pointer.startswith("/"):
        return MISSING
    current = value
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            current = current.get(token, MISSING)
        elif isinstance(current, list):
            if (
                token.startswith("+")
                or (token.startswith("0") and len(token) != 1)
                or not token.isascii()
                or not token.isdigit()
            ):
                return MISSING
            index = int(token)
            current = current[index] if index < len(current) else MISSING
        else:
            return MISSING
        if current is MISSING:
            return MISSING
    return current


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str) and isinstance(needle, str):
        return needle in haystack
    if isinstance(haystack, list):
        return any(values.values_equal(item, needle) for item in haystack)
    return False


def _cidr_blocks(name: str, value: Any) -> list[cidr_helper.Block]:
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list):
        texts = [_string(name, item) for item in value]
    else:
        raise ExpressionEvalError(f"{name}() CIDR argument must be a string or list of strings")
    return [cidr_helper.require_block(text) for text in texts]


def _size(name: str, args: list[Any]) -> int:
    value = args[0]
    if isinstance(value, list | Mapping | str):
        return len(value)
    raise ExpressionEvalError("size() requires an array, object, or string")


def _semver(name: str, args: list[Any]) -> bool:
    version_text = _string(name, args[0])
    try:
        version = semver_helper.parse_version(version_text)
    except semver_helper.SemverError as error:
        raise ExpressionEvalError(f"semver version is invalid: {error}") from None
    requirement_text = _string(name, args[1])
    try:
        requirement = semver_helper.parse_requirement(requirement_text)
    except semver_helper.SemverError as error:
        raise ExpressionEvalError(f"semver requirement is invalid: {error}") from None
    return semver_helper.requirement_matches(requirement, version)


def _regex(name: str, args: list[Any]) -> bool:
    compiled = regex_helper.compile_regex(_string(name, args[1]))
    text = _string(name, args[0])
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:
        return False


def _glob(name: str, args: list[Any]) -> bool:
    pattern = glob_helper.compile_glob(_string(name, args[1]))
    return pattern.matches(_string(name, args[0]))


def _time_between(name: str, args: list[Any]) -> bool:
    actual = _instant(name, args[0])
    return actual >= _instant(name, args[1]) and actual < _instant(name, args[2])


def _bucket(name: str, args: list[Any]) -> bool:
    salt = _string(name, args[1])
    start = _integer(name, args[2])
    end = _integer(name, args[3])
    bucket = bucket_helper.bucket_value(salt, args[0])
    return start <= bucket < end


def _cidr(name: str, args: list[Any]) -> bool:
    address = cidr_helper.require_address(_string(name, args[0]))
    blocks = _cidr_blocks(name, args[1])
    return any(cidr_helper.contains(block, address) for block in blocks)


def _json_path(name: str, args: list[Any]) -> Any:
    pointer = _string(name, args[1])
    found = _pointer(args[0], pointer)
    if found is MISSING:
        raise ExpressionEvalError(f"path() did not find JSON Pointer: {pointer}")
    return found


Impl = Callable[[str, list[Any]], Any]

_IMPLS: dict[str, tuple[int, Impl]] = {
    "present": (2, lambda n, a: _pointer(a[0], _string(n, a[1])) is not MISSING),
    "missing": (2, lambda n, a: _pointer(a[0], _string(n, a[1])) is MISSING),
    "contains": (2, lambda n, a: _contains(a[0], a[1])),
    "semver": (2, _semver),
    "glob": (2, _glob),
    "timeBetween": (3, _time_between),
    "time_between": (3, _time_between),
    "bucket": (4, _bucket),
    "cidr": (2, _cidr),
    "path": (2, _json_path),
    "size": (1, _size),
}
for _alias in ("startsWith", "starts_with", "prefix"):
    _IMPLS[_alias] = (2, lambda n, a: _string(n, a[0]).startswith(_string(n, a[1])))
for _alias in ("endsWith", "ends_with", "suffix"):
    _IMPLS[_alias] = (2, lambda n, a: _string(n, a[0]).endswith(_string(n, a[1])))
for _alias in ("matches", "regex"):
    _IMPLS[_alias] = (2, _regex)
_TIME_TESTS: dict[str, Callable[[timestamps.Instant, timestamps.Instant], bool]] = {
    "timeAfter": lambda a, b: a > b,
    "time_after": lambda a, b: a > b,
    "timeAtOrAfter": lambda a, b: a >= b,
    "time_at_or_after": lambda a, b: a >= b,
    "timeBefore": lambda a, b: a < b,
    "time_before": lambda a, b: a < b,
    "timeAtOrBefore": lambda a, b: a <= b,
    "time_at_or_before": lambda a, b: a <= b,
}


def _time_impl(test: Callable[[timestamps.Instant, timestamps.Instant], bool]) -> Impl:
    return lambda n, a: test(_instant(n, a[0]), _instant(n, a[1]))


for _name, _test in _TIME_TESTS.items():
    _IMPLS[_name] = (2, _time_impl(_test))


def _arity_error(name: str, expected: int, got: int) -> ExpressionEvalError:
    return ExpressionEvalError(f"{name}() expects {expected} arguments, got {got}")


def _has(node: ast.CallNode) -> Eval:
    name = node.name
    if len(node.args) != 1:
        count = len(node.args)

        def wrong_arity(env: EvalEnv) -> bool:
            raise _arity_error(name, 1, count)

        return wrong_arity
    (target,) = node.args
    if not isinstance(target, ast.PathNode):

        def not_a_path(env: EvalEnv) -> bool:
            raise ExpressionEvalError("has() requires a context or entry path argument")

        return not_a_path
    lookup = _lookup(target)
    return lambda env: lookup(env) is not MISSING


def _call(node: ast.CallNode) -> Eval:
    name = node.name
    if name == "has":
        return _has(node)
    args = [_value(arg) for arg in node.args]
    count = len(args)
    entry = _IMPLS.get(name)
    if entry is None:

        def unknown(env: EvalEnv) -> Any:
            for arg in args:
                arg(env)
            raise ExpressionEvalError(f"unknown expression function: {name}")

        return unknown
    expected, impl = entry
    if count != expected:

        def wrong_arity(env: EvalEnv) -> Any:
            for arg in args:
                arg(env)
            raise _arity_error(name, expected, count)

        return wrong_arity
    fast = _specialised(name, node.args, args)
    if fast is not None:
        return fast

    def call(env: EvalEnv) -> Any:
        evaluated = [arg(env) for arg in args]
        try:
            return impl(name, evaluated)
        except HelperError as error:
            raise ExpressionEvalError(str(error)) from None

    return call


def _specialised(name: str, nodes: tuple[ast.Node, ...], args: list[Eval]) -> Eval | None:
    """Faster closures for helpers whose trailing arguments are valid constants."""
    constants = [_constant_value(node) for node in nodes]
    if name == "bucket":
        (salt_known, salt), (start_known, start), (end_known, end) = constants[1:]
        if not (salt_known and start_known and end_known and isinstance(salt, str)):
            return None
        low = values.as_i64(start)
        high = values.as_i64(end)
        if low is None or high is None:
            return None
        state = bucket_helper.salt_state(salt)
        value = args[0]
        return lambda env: low <= bucket_helper.bucket_from_state(state, value(env)) < high
    known, constant = constants[-1]
    if not known or not isinstance(constant, str):
        return None
    subject = args[0]
    if name == "contains":
        # A string needle equals only strings, so Python's `in` is the reference's test.
        def contains(env: EvalEnv) -> bool:
            haystack = subject(env)
            if isinstance(haystack, str | list):
                return constant in haystack
            return False

        return contains
    if name in ("prefix", "startsWith", "starts_with", "suffix", "endsWith", "ends_with"):
        starts = name in ("prefix", "startsWith", "starts_with")

        def affix(env: EvalEnv) -> bool:
            text = _string(name, subject(env))
            return text.startswith(constant) if starts else text.endswith(constant)

        return affix
    if name in ("regex", "matches"):
        try:
            compiled = regex_helper.compile_regex(constant)
        except HelperError:
            return None

        def search(env: EvalEnv) -> bool:
            text = _string(name, subject(env))
            try:
                return compiled.search(text) is not None
            except UnicodeEncodeError:
                return False

        return search
    if name == "glob":
        try:
            pattern = glob_helper.compile_glob(constant)
        except HelperError:
            return None
        return lambda env: pattern.matches(_string(name, subject(env)))
    if name in _TIME_TESTS:
        instant = timestamps.parse_instant(constant)
        if instant is None:
            return None
        test = _TIME_TESTS[name]
        return lambda env: test(_instant(name, subject(env)), instant)
    return None


# Node class -> closure builder, for `_value` (after every builder is defined).
_BUILDERS: dict[type, Callable[[Any], Eval]] = {
    ast.LiteralNode: lambda node: _constant(node.value),
    ast.ListNode: _list,
    ast.PathNode: _path,
    ast.QualifierNode: lambda node: _qualifier(node.qualifier_id),
    ast.NotNode: _not,
    ast.LogicalNode: _logical,
    ast.BinaryNode: _binary,
    ast.CallNode: _call,
}
