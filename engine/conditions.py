"""The ``.when("...")`` condition language of blueprint handlers.

A condition is parsed once, at registration, into a tree of frozen nodes and
evaluated by ``Condition.matches(root)`` against a root mapping such as
``{"context": {...}}``. Nothing reaches ``eval``/``compile``: the tokenizer and
recursive-descent parser below are the whole language. Grammar, loosest first::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := value [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") value]
    value      := ["-"] NUMBER | STRING | True | False | None | true | false | null
                | "[" [value ("," value)*] "]" | "(" expr ")" | path
    path       := NAME ("." NAME | "[" (STRING | INTEGER) "]")*

Comparisons do not chain; Python keywords other than the ones above are errors.
Evaluation never raises for data reasons:

* a path step on a mapping is ``.get(key)``; an integer step on a list/tuple is
  the element when in range; a name step on another object is ``getattr``
  unless the name starts with ``_``; anything else, and an unknown root, is ``None``;
* ``==``/``!=`` are Python equality, except that a bool only equals a bool;
* ordering holds between two numbers (bools are not numbers) or two values of
  one type; otherwise, and with ``None``, it is ``False``;
* ``x in y`` is bool-strict membership in a list/tuple/set or among a mapping's
  keys, and substring when both are strings; otherwise ``in`` *and* ``not in``
  are both ``False``;
* ``and``/``or`` short-circuit; they and ``not`` return a bool.
"""

from __future__ import annotations

import keyword
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from engine.errors import ConditionSyntaxError

_CONSTANTS = {"True": True, "true": True, "False": False, "false": False, "None": None, "null": None}
_WORDS = frozenset({"and", "or", "not", "in"})
_RESERVED = frozenset(keyword.kwlist) - _WORDS - _CONSTANTS.keys()
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_TOKEN = re.compile(r"(?P<number>\d[\w.]*)|(?P<name>[A-Za-z_]\w*)|(?P<op>[=!<>]=|[-<>()\[\],.])", re.ASCII)
_NUMBER = re.compile(r"\d+(\.\d+)?", re.ASCII)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*", re.ASCII)
_MAX_DEPTH = 50  # of parentheses, lists and "not"s


def _equal(left: Any, right: Any) -> bool:
    return isinstance(left, bool) == isinstance(right, bool) and bool(left == right)


def _ordered(compare: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    def safe(left: Any, right: Any) -> bool:
        if isinstance(left, bool) or isinstance(right, bool) or left is None:
            return False
        numbers = isinstance(left, (int, float)) and isinstance(right, (int, float))
        try:
            return (numbers or type(left) is type(right)) and bool(compare(left, right))
        except TypeError:  # e.g. lists holding mixed types
            return False

    return safe


def _contains(item: Any, container: Any) -> bool | None:
    """``item in container`` where well-defined, else ``None``."""
    if isinstance(container, (list, tuple, set, frozenset, Mapping)):
        return any(_equal(item, element) for element in container)
    if isinstance(container, str):
        return item in container if isinstance(item, str) else None
    return None


_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda left, right: not _equal(left, right),
    "<": _ordered(operator.lt),
    "<=": _ordered(operator.le),
    ">": _ordered(operator.gt),
    ">=": _ordered(operator.ge),
    "in": lambda left, right: _contains(left, right) is True,
    "not in": lambda left, right: _contains(left, right) is False,
}


def _step(value: Any, key: str | int) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(key, int):
        return value[key] if isinstance(value, (list, tuple)) and 0 <= key < len(value) else None
    if value is None or key.startswith("_"):
        return None
    try:
        return getattr(value, key, None)
    except Exception:  # a raising property is missing data, not a crash
        return None


def _spell(key: str | int) -> str:
    """A path step as written canonically: ``.name``, else ``[0]`` or ``['my-key']``."""
    return f".{key}" if isinstance(key, str) and _IDENTIFIER.fullmatch(key) else f"[{key!r}]"


@dataclass(frozen=True, slots=True)
class Const:
    value: Any

    def evaluate(self, root: Mapping[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Node, ...]

    def evaluate(self, root: Mapping[str, Any]) -> Any:
        return [item.evaluate(root) for item in self.items]


@dataclass(frozen=True, slots=True)
class Path:
    """``root.name['key'][0]``; ``text`` spells it canonically (``a['b']`` is ``a.b``)."""

    root: str
    steps: tuple[str | int, ...]

    @property
    def text(self) -> str:
        return self.root + "".join(_spell(key) for key in self.steps)

    def evaluate(self, root: Mapping[str, Any]) -> Any:
        value = root.get(self.root)
        for key in self.steps:
            value = _step(value, key)
        return value


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # a key of _COMPARATORS
    left: Node
    right: Node

    def evaluate(self, root: Mapping[str, Any]) -> Any:
        return _COMPARATORS[self.op](self.left.evaluate(root), self.right.evaluate(root))


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node

    def evaluate(self, root: Mapping[str, Any]) -> Any:
        return not self.operand.evaluate(root)


@dataclass(frozen=True, slots=True)
class Logic:
    """``a and b and ...`` or ``a or b or ...``, evaluated left to right."""

    op: str  # "and" or "or"
    operands: tuple[Node, ...]

    def evaluate(self, root: Mapping[str, Any]) -> Any:
        truths = (bool(operand.evaluate(root)) for operand in self.operands)
        return all(truths) if self.op == "and" else any(truths)


Node: TypeAlias = Const | ListExpr | Path | Compare | Not | Logic


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed ``.when()`` expression; ``paths`` are the paths it reads, in first-use order."""

    source: str
    tree: Node
    paths: tuple[str, ...]

    def matches(self, root: Mapping[str, Any]) -> bool:
        """The truthiness of the expression evaluated against ``root``."""
        return bool(self.tree.evaluate(root))


def parse_condition(source: str) -> Condition:
    """Parse ``source``; raise ``ConditionSyntaxError`` at the offending token."""
    parser = _Parser(source)
    tree = parser.parse()
    return Condition(source, tree, tuple(dict.fromkeys(parser.paths)))


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number", "string", "name", "op" or "end"
    text: str  # as spelled in the source
    value: Any  # of a number or string
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        if source[pos].isspace():
            pos += 1
            continue
        if source[pos] in "'\"":
            tokens.append(_read_string(source, pos))
        elif match := _TOKEN.match(source, pos):
            kind, text = str(match.lastgroup), match.group()
            if kind == "number" and not _NUMBER.fullmatch(text):
                raise ConditionSyntaxError(source, pos, f"invalid number {text!r}")
            value = (float(text) if "." in text else int(text)) if kind == "number" else None
            tokens.append(_Token(kind, text, value, pos))
        else:
            hint = " (use '==' to compare)" if source[pos] == "=" else ""
            raise ConditionSyntaxError(source, pos, f"unexpected character {source[pos]!r}{hint}")
        pos += len(tokens[-1].text)
    return [*tokens, _Token("end", "", None, len(source))]


def _read_string(source: str, start: int) -> _Token:
    """A quoted string; only the escapes in ``_ESCAPES`` are allowed."""
    chars: list[str] = []
    pos = start + 1
    while pos < len(source) and source[pos] != source[start]:
        if source[pos] == "\\" and pos + 1 < len(source):
            if source[pos + 1] not in _ESCAPES:
                raise ConditionSyntaxError(source, pos, f"invalid escape '\\{source[pos + 1]}'")
            chars.append(_ESCAPES[source[pos + 1]])
            pos += 2
        else:
            chars.append(source[pos])
            pos += 1
    if pos >= len(source):
        raise ConditionSyntaxError(source, start, "unterminated string")
    return _Token("string", source[start : pos + 1], "".join(chars), start)


class _Parser:
    """Recursive descent over the tokens, one method per grammar rule."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = self.depth = 0
        self.paths: list[str] = []

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at(self, kind: str, text: str, offset: int = 0) -> bool:
        return self.peek(offset).kind == kind and self.peek(offset).text == text

    def fail(self, message: str) -> ConditionSyntaxError:
        """An error at the current token; at the end, 'unexpected end of expression'."""
        if self.peek().kind == "end":
            message = "unexpected end of expression"
        return ConditionSyntaxError(self.source, self.peek().pos, message)

    def expect(self, op: str) -> None:
        if not self.at("op", op):
            raise self.fail(f"expected {op!r}, found {self.peek().text!r}")
        self.advance()

    def nested(self, parse: Callable[[], Node]) -> Node:
        """Consume an opening token, then ``parse`` one level deeper."""
        if self.depth >= _MAX_DEPTH:
            raise self.fail("expression nested too deeply")
        self.depth += 1
        self.advance()
        node = parse()
        self.depth -= 1
        return node

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ConditionSyntaxError(self.source, 0, "empty expression")
        tree = self.parse_logic("or")
        if self.peek().kind != "end":
            raise self.fail(f"unexpected token {self.peek().text!r}")
        return tree

    def parse_logic(self, op: str) -> Node:
        """``or`` of ``and`` operands, or ``and`` of ``not_expr`` operands."""
        operand: Callable[[], Node] = self.parse_not if op == "and" else lambda: self.parse_logic("and")
        operands = [operand()]
        while self.at("name", op):
            self.advance()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else Logic(op, tuple(operands))

    def parse_not(self) -> Node:
        if self.at("name", "not"):
            return self.nested(lambda: Not(self.parse_not()))
        return self.parse_comparison()

    def comparison_operator(self) -> str | None:
        token = self.peek()
        if (token.kind == "op" and token.text in _COMPARATORS) or self.at("name", "in"):
            return token.text
        return "not in" if self.at("name", "not") and self.at("name", "in", 1) else None

    def parse_comparison(self) -> Node:
        left = self.parse_value()
        op = self.comparison_operator()
        if op is None:
            return left
        self.index += len(op.split())  # "not in" is two tokens
        right = self.parse_value()
        if self.comparison_operator() is not None:
            raise self.fail("chained comparisons are not allowed")
        return Compare(op, left, right)

    def parse_value(self) -> Node:
        token = self.peek()
        if token.kind in ("number", "string"):
            return Const(self.advance().value)
        if token.kind == "name" and token.text in _CONSTANTS:
            return Const(_CONSTANTS[self.advance().text])
        if token.kind == "name" and token.text in _RESERVED:
            raise self.fail(f"unknown name {token.text!r}")
        if token.kind == "name" and token.text not in _WORDS:
            return self.parse_path()
        if self.at("op", "-"):
            self.advance()
            if self.peek().kind != "number":
                raise self.fail(f"expected a number after '-', found {self.peek().text!r}")
            return Const(-self.advance().value)
        if self.at("op", "(") or self.at("op", "["):
            return self.nested(self.parse_group if token.text == "(" else self.parse_list)
        raise self.fail(f"expected a value, found {token.text!r}")

    def parse_group(self) -> Node:
        node = self.parse_logic("or")
        self.expect(")")
        return node

    def parse_list(self) -> Node:
        items: list[Node] = []
        while not self.at("op", "]"):
            if items:
                self.expect(",")
            items.append(self.parse_value())
        self.advance()
        return ListExpr(tuple(items))

    def parse_path(self) -> Node:
        root = self.advance().text
        steps: list[str | int] = []
        while self.at("op", ".") or self.at("op", "["):
            if self.advance().text == ".":
                if self.peek().kind != "name":
                    raise self.fail(f"expected a name after '.', found {self.peek().text!r}")
                steps.append(self.advance().text)
                continue
            key = self.peek()
            if key.kind != "string" and not isinstance(key.value, int):
                raise self.fail(f"expected a string or integer key, found {key.text!r}")
            steps.append(self.advance().value)
            self.expect("]")
        path = Path(root, tuple(steps))
        self.paths.append(path.text)
        return path
