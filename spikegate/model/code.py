r"""Brian2 code from a model file, validated as data before Brian2 sees it.

A model file, a ``--set`` override or a scan file may carry text that becomes Brian2 code:
a neuron model's equations, threshold and reset. Brian2 turns such text into Python, Cython
or C++ source and evaluates parts of it itself (unit strings with ``eval``, expressions with
sympy), so text from a shared file must be checked as a whitelist first:

* **characters**: printable ASCII and newlines only. A carriage return, form feed or any
  other control character ends a line in Python or C++ and could smuggle a second
  statement past a comment; non-ASCII letters are identifiers to Python but not to Brian2's
  checks (``ｏpen`` is ``open``).
* **comments** are stripped (``#`` to the end of the line): they never reach generated code.
* **structure**: equations are ``dX/dt = expr : unit (flags)``, ``X = expr : unit (flags)``
  or ``X : unit (flags)``; statements are ``X op= expr``; unit strings are base units,
  ``*``, ``/`` and small integer powers; flags come from Brian2's list.
* **expressions** are parsed into a syntax tree and checked node by node: numbers,
  names, arithmetic, comparisons, ``and``/``or``/``not`` and calls of Brian2's own
  functions (``exp``, ``clip``, ...) only; every identifier is matched whole against the
  names the caller allows. Constant sub-expressions are evaluated here in floating point,
  and a power's constant exponent is bounded (:data:`MAX_EXPONENT`), so no expression can
  make Brian2 or sympy compute a number of millions of digits.
* **size**: at most :data:`MAX_CODE_CHARS` characters per field and :data:`MAX_DEPTH`
  nested operations per expression.

Every refusal is a :class:`~spikegate.errors.ParameterError` naming the field.
"""
from __future__ import annotations

import ast
import math
import operator
import re

from ..errors import ParameterError

#: Characters per code field (a Hodgkin-Huxley model is about 1,500).
MAX_CODE_CHARS = 20_000
#: Nested operations in one expression.
MAX_DEPTH = 64
#: Largest magnitude of a constant exponent (``v**3`` is fine, ``2**9**9`` is not).
MAX_EXPONENT = 64
#: Largest magnitude of a constant (sub-)expression: the range of a float64.
MAX_CONSTANT = 1e308

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ALLOWED_CHARS = re.compile(r"[\x20-\x7e\n]*")
#: Brian2's statement operators (``v = ...``, ``u += ...``).
STATEMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(\+|-|\*|/|//|%|\*\*)?=\s*(\S.*?)\s*")
_EQUATION = re.compile(r"\s*(?:d([A-Za-z_][A-Za-z0-9_]*)\s*/\s*dt|([A-Za-z_][A-Za-z0-9_]*))\s*"
                       r"(?:=(?P<expr>[^:]*))?:(?P<unit>[^()]*)(?:\((?P<flags>[^()]*)\))?\s*", re.DOTALL)
#: Flags Brian2 accepts on a neuron group's equations.
FLAGS = ("constant", "shared", "unless refractory", "constant over dt", "linked")
_BASE_UNIT = None   # filled lazily from Brian2: the unit names its equations accept


def check_identifier(where: str, name) -> str:
    """``name`` if it is an ASCII identifier (matched whole: no trailing newline or space)."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise ParameterError(f"{where}: name {name!r} is not an identifier (ASCII letters, digits and _, "
                             "not starting with a digit)", where)
    return name


def check_characters(where: str, text: str) -> str:
    """``text`` (Windows line ends made ``\\n``) if it is printable ASCII with newlines, and not
    longer than :data:`MAX_CODE_CHARS`."""
    text = text.replace("\r\n", "\n")
    if len(text) > MAX_CODE_CHARS:
        raise ParameterError(f"{where}: {len(text):,} characters; at most {MAX_CODE_CHARS:,}", where)
    if not _ALLOWED_CHARS.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED_CHARS.fullmatch(c))
        raise ParameterError(f"{where}: character {bad!r} (U+{ord(bad):04X}) not allowed in code; allowed: "
                             "printable ASCII and newlines (no tabs, carriage returns or other control "
                             "characters, no non-ASCII letters)", where)
    return text


def strip_comments(text: str) -> str:
    """``text`` without ``#`` comments (unchanged when it has none)."""
    if "#" not in text:
        return text
    return "\n".join(line.split("#", 1)[0].rstrip() for line in text.split("\n"))


# --------------------------------------------------------------------------- expressions
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name, ast.Constant,
          ast.Load, ast.And, ast.Or, *_BINARY, *_UNARY, *_COMPARE)


def _brian_functions() -> frozenset:
    from brian2.core.functions import DEFAULT_FUNCTIONS

    return frozenset(DEFAULT_FUNCTIONS)


def _depth(tree) -> int:
    """Nesting depth of a syntax tree, without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        stack.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _constant(node, where: str, text: str):
    """The value of a constant sub-expression in floating point (None if it holds a name or call),
    refused when it leaves the float range or a power's exponent is too large."""
    if isinstance(node, ast.Constant):
        if abs(node.value) > MAX_CONSTANT:   # an integer literal of hundreds of digits
            raise ParameterError(f"{where} = {text!r}: a constant is out of range (|x| <= {MAX_CONSTANT:g})", where)
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        v = _constant(node.operand, where, text)
        return None if v is None else float(_UNARY[type(node.op)](v))
    if isinstance(node, ast.BinOp):
        left, right = _constant(node.left, where, text), _constant(node.right, where, text)
        if isinstance(node.op, ast.Pow) and right is not None and abs(right) > MAX_EXPONENT:
            raise ParameterError(f"{where} = {text!r}: exponent {right:g} too large; at most {MAX_EXPONENT} in "
                                 "magnitude", where)
        if left is None or right is None:
            return None
        try:
            value = _BINARY[type(node.op)](left, right)
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise ParameterError(f"{where} = {text!r}: a constant cannot be evaluated ({exc})", where) from None
        if isinstance(value, complex) or not math.isfinite(value) or abs(value) > MAX_CONSTANT:
            raise ParameterError(f"{where} = {text!r}: a constant is out of range (|x| <= {MAX_CONSTANT:g})", where)
        return float(value)
    if isinstance(node, (ast.BoolOp, ast.Compare, ast.Call)):
        for child in ast.iter_child_nodes(node):
            _constant(child, where, text)   # bounds of constants inside
        return None
    return None


def check_expression(where: str, text: str, names, shown: str | None = None) -> ast.AST:
    """Check one Brian2 expression (see the module docstring); return its syntax tree.

    Parameters
    ----------
    where : str
        The field, for messages (``"NeuronEquations.threshold"``).
    text : str
        The expression (characters already checked by :func:`check_characters`).
    names : container of str
        Identifiers the expression may use besides Brian2's functions, constants and units.
    shown : str, optional
        The text to quote in messages (default ``text``).
    """
    shown = _short(text if shown is None else shown)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        msg = getattr(exc, "msg", None) or type(exc).__name__
        raise ParameterError(f"{where} = {shown!r}: not an expression ({msg})", where) from None
    if _depth(tree) > MAX_DEPTH:
        raise ParameterError(f"{where} = {shown!r}: nested more than {MAX_DEPTH} levels deep", where)
    functions = _brian_functions()
    unknown = []
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ParameterError(f"{where} = {shown!r}: {type(node).__name__} syntax not allowed; allowed: numbers, "
                                 "names, arithmetic, comparisons, and/or/not, calls of Brian2's functions", where)
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):   # bool is an int
            raise ParameterError(f"{where} = {shown!r}: constant {node.value!r} not allowed; only numbers", where)
        if isinstance(node, ast.Compare) and len(node.ops) != 1:
            raise ParameterError(f"{where} = {shown!r}: one comparison at a time (a < b, not a < b < c)", where)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in functions or node.keywords:
                name = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
                raise ParameterError(f"{where} = {shown!r}: call of {name!r} not allowed; allowed functions: "
                                     f"{', '.join(sorted(functions))} (positional arguments)", where)
        elif isinstance(node, ast.Name) and node.id not in names and not is_brian_name(node.id):
            unknown.append(node.id)
    if unknown:
        raise ParameterError(f"{where} = {shown!r}: unknown name(s) {', '.join(sorted(set(unknown)))}; known: the "
                             "equations' variables and parameters", where)
    _constant(tree.body, where, shown)
    return tree


def is_brian_name(name: str) -> bool:
    """Whether ``name`` is a Brian2 unit, constant or default function (``mV``, ``exp``, ``pi``)."""
    from brian2.core.functions import DEFAULT_CONSTANTS

    from ..units import brian_unit

    return name in _brian_functions() or name in DEFAULT_CONSTANTS or brian_unit(name) is not None \
        or name in ("True", "False")


# --------------------------------------------------------------------------- statements and equations
def check_statements(where: str, text: str, targets, names) -> str:
    """Check Brian2 statements (one ``X op= expr`` per line, e.g. a reset); return them without
    comments. ``targets`` are the variables they may assign, ``names`` what they may read."""
    code = strip_comments(check_characters(where, text))
    text = _short(text)
    for line in code.split("\n"):
        if not line.strip():
            continue
        m = STATEMENT.fullmatch(line)
        if not m:
            raise ParameterError(f"{where} = {text!r}: line {line.strip()!r} is not a statement 'variable = "
                                 "expression' (or +=, -=, *=, /=)", where)
        if m.group(1) not in targets:
            raise ParameterError(f"{where} = {text!r}: assigns {m.group(1)!r}, not a variable of the equations "
                                 f"({', '.join(sorted(targets))})", where)
        check_expression(where, m.group(3), names, shown=text)
    return code


def base_units() -> frozenset:
    """The unit names Brian2 accepts in equations (``volt``, ``second``, ``siemens``, ...)."""
    global _BASE_UNIT
    if _BASE_UNIT is None:   # the units of scale 1 (Brian2 itself refuses any other in equations)
        from brian2.core.namespace import DEFAULT_UNITS

        _BASE_UNIT = frozenset(n for n, u in DEFAULT_UNITS.items() if IDENTIFIER.fullmatch(n) and float(u) == 1.0
                               and n[-1] not in "23")
    return _BASE_UNIT


_UNIT_FACTOR = r"[A-Za-z]+(?:\s*\*\*\s*-?[1-9])?"
_UNIT = re.compile(rf"\s*(?:1|boolean|integer|{_UNIT_FACTOR}(?:\s*[*/]\s*{_UNIT_FACTOR})*)\s*")


def _short(text: str, limit: int = 120) -> str:
    """``text`` cut for a one-line message."""
    return text if len(text) <= limit else text[:limit] + "..."


def check_unit(where: str, unit: str, shown: str) -> str:
    """A unit string of an equation: ``1``, ``boolean``, ``integer`` or base units joined by
    ``*`` and ``/`` with single-digit integer powers (``siemens/metre**2``)."""
    if not _UNIT.fullmatch(unit):
        raise ParameterError(f"{where} = {_short(shown)!r}: unit {_short(unit.strip(), 40)!r} not allowed; give base units joined by * "
                             "and / with small integer powers (e.g. volt, siemens/metre**2), or 1", where)
    bad = sorted(set(IDENTIFIER.findall(unit)) - base_units() - {"boolean", "integer"})
    if bad:
        raise ParameterError(f"{where} = {_short(shown)!r}: unit {bad[0]!r} is not a base unit; allowed: "
                             f"{', '.join(sorted(base_units()))}", where)
    return unit.strip()


def parse_equations(where: str, text: str) -> tuple[str, list[tuple[str, str, str | None, str, tuple]]]:
    """Check the structure of Brian2 equations; return the text without comments and one
    ``(kind, name, expression, unit, flags)`` per equation (kind ``"diff"``, ``"sub"`` or
    ``"param"``). Expressions are checked by the caller, which knows every name."""
    code = strip_comments(check_characters(where, text))
    out, pending = [], []
    for line in code.split("\n"):
        if not line.strip():
            continue
        pending.append(line)
        if ":" not in line:
            continue     # an expression continued on the next line
        one = " ".join(pending)
        pending, shown = [], _short(one.strip())
        if one.count(":") != 1:
            raise ParameterError(f"{where}: equation {shown!r}: one ':' before the unit, none elsewhere", where)
        m = _EQUATION.fullmatch(one)
        if not m:
            raise ParameterError(f"{where}: {shown!r} is not an equation 'dX/dt = expr : unit', "
                                 "'X = expr : unit' or 'X : unit' (flags in parentheses)", where)
        diff, name, expr = m.group(1), m.group(2), m.group("expr")
        if diff is not None and expr is None:
            raise ParameterError(f"{where}: {shown!r}: a differential equation needs an expression", where)
        if expr is not None and not expr.strip():
            raise ParameterError(f"{where}: {shown!r}: empty expression", where)
        unit = check_unit(where, m.group("unit"), one.strip())
        flags = tuple(" ".join(f.split()) for f in (m.group("flags") or "").split(",") if f.strip())
        bad = [f for f in flags if f not in FLAGS]
        if bad:
            raise ParameterError(f"{where}: {shown!r}: unknown flag {bad[0]!r}; allowed: {', '.join(FLAGS)}",
                                 where)
        kind = "diff" if diff is not None else ("sub" if expr is not None else "param")
        out.append((kind, diff or name, expr, unit, flags))
    if pending:
        raise ParameterError(f"{where}: {_short(' '.join(pending).strip())!r}: missing ': unit'", where)
    return code, out
