"""The ``.when()`` condition language: evaluation semantics, syntax errors, safety."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from engine.conditions import Condition, parse_condition
from engine.errors import ConditionSyntaxError

DATA: dict[str, Any] = {
    "context": {
        "initial_data": {
            "type": "urgent",
            "area": {"field": "x", "count": 3, "ratio": 0.5},
            "urgent": True,
            "flag": False,
            "nothing": None,
            "zero": 0,
            "temperature": -3,
            "tags": ["a", "b"],
            "items": [10, 20],
            "name": "O'Brien",
            "quote": 'say "hi"',
            "windows": "C:\\tmp",
            "text": "line1\nline2\tend",
            "class": "reserved word as a key",
        },
        "state_history": {"my-key": "done"},
    }
}
ID = "context.initial_data"


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        # equality and inequality on strings, both quote styles
        (f"{ID}.type == 'urgent'", DATA, True),
        (f'{ID}.type == "urgent"', DATA, True),
        (f"{ID}.type != 'urgent'", DATA, False),
        (f"{ID}.type != 'normal'", DATA, True),
        # numbers: int, float, negative, ordering operators
        (f"{ID}.area.count == 3", DATA, True),
        (f"{ID}.area.count > 2", DATA, True),
        (f"{ID}.area.count > 3", DATA, False),
        (f"{ID}.area.count >= 3", DATA, True),
        (f"{ID}.area.count < 3", DATA, False),
        (f"{ID}.area.count <= 3", DATA, True),
        (f"{ID}.area.ratio < 1", DATA, True),
        (f"{ID}.area.ratio == 0.5", DATA, True),
        ("2 == 2.0", {}, True),
        (f"{ID}.temperature == -3", DATA, True),
        (f"{ID}.temperature > -5", DATA, True),
        ("-2 < -1.5", {}, True),
        ("'b' < 'c'", {}, True),
        # bare paths and literals are truthiness
        (f"{ID}.urgent", DATA, True),
        (f"{ID}.flag", DATA, False),
        (f"{ID}.zero", DATA, False),
        (f"{ID}.tags", DATA, True),
        ("''", {}, False),
        ("'x'", {}, True),
        ("0.0", {}, False),
        ("True", {}, True),
        ("None", {}, False),
        # missing keys and unknown roots resolve to None, never raise
        (f"{ID}.missing", DATA, False),
        (f"{ID}.missing.deeper.still == None", DATA, True),
        (f"{ID}.nothing == None", DATA, True),
        (f"{ID}.nothing == null", DATA, True),
        ("nobody == None", DATA, True),
        ("nobody.at.all", DATA, False),
        (f"{ID}.type.length == None", DATA, True),
        (f"{ID}.type[0] == None", DATA, True),
        # bools compare only with bools
        (f"{ID}.urgent == True", DATA, True),
        (f"{ID}.urgent == true", DATA, True),
        (f"{ID}.flag == false", DATA, True),
        (f"{ID}.urgent == 1", DATA, False),
        (f"{ID}.urgent != 1", DATA, True),
        (f"{ID}.zero == False", DATA, False),
        (f"{ID}.zero == 0", DATA, True),
        ("True in [1, 2]", {}, False),
        ("1 in [True]", {}, False),
        ("None == False", {}, False),
        # ordering across incomparable types is False, never an error
        (f"{ID}.type > 5", DATA, False),
        (f"{ID}.type < 5", DATA, False),
        (f"{ID}.missing < 5", DATA, False),
        (f"{ID}.missing >= 0", DATA, False),
        ("None <= None", {}, False),
        (f"{ID}.urgent > 0", DATA, False),
        ("True >= False", {}, False),
        (f"{ID}.tags < {ID}.area", DATA, False),
        ("[1] < ['a']", {}, False),
        # in / not in on lists, strings and mappings
        (f"'a' in {ID}.tags", DATA, True),
        (f"'z' in {ID}.tags", DATA, False),
        (f"'z' not in {ID}.tags", DATA, True),
        (f"'a' not in {ID}.tags", DATA, False),
        (f"{ID}.type in ['urgent', 'normal']", DATA, True),
        (f"{ID}.type not in ['urgent', 'normal']", DATA, False),
        ("None in [1, 'a', None]", {}, True),
        ("2 in []", {}, False),
        (f"'urg' in {ID}.type", DATA, True),
        (f"'xyz' not in {ID}.type", DATA, True),
        (f"1 in {ID}.type", DATA, False),
        (f"1 not in {ID}.type", DATA, False),
        (f"'x' in {ID}.missing", DATA, False),
        (f"'x' not in {ID}.missing", DATA, False),
        (f"'area' in {ID}", DATA, True),
        (f"'nope' not in {ID}", DATA, True),
        (f"{ID}.tags in {ID}", DATA, False),
        (f"{ID}.tags not in {ID}", DATA, True),
        ("True in codes", {"codes": {1: "one"}}, False),
        ("1 in codes", {"codes": {1: "one"}}, True),
        # subscripts: string keys (either quote), list indices, mixing with dots
        ("context.state_history['my-key'] == 'done'", DATA, True),
        ('context.state_history["my-key"] == "done"', DATA, True),
        ("context.state_history['other'] == None", DATA, True),
        (f"{ID}.items[0] == 10", DATA, True),
        (f"{ID}.items[1] == 20", DATA, True),
        (f"{ID}.items[2] == None", DATA, True),
        (f"{ID}['area'].field == 'x'", DATA, True),
        ("context['initial_data']['area']['count'] == 3", DATA, True),
        (f"{ID}.class == 'reserved word as a key'", DATA, True),
        ("a.b.c.d.e.f == 1", {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, True),
        ("rows[1].name == 'second'", {"rows": ({"name": "first"}, {"name": "second"})}, True),
        ("codes[200] == 'ok'", {"codes": {200: "ok"}}, True),
        # string escapes
        (f"{ID}.name == 'O\\'Brien'", DATA, True),
        (f'{ID}.name == "O\'Brien"', DATA, True),
        (f"{ID}.quote == 'say \"hi\"'", DATA, True),
        (f'{ID}.quote == "say \\"hi\\""', DATA, True),
        (f"{ID}.windows == 'C:\\\\tmp'", DATA, True),
        (f"{ID}.text == 'line1\\nline2\\tend'", DATA, True),
        (f"{ID}.text == 'line1nline2tend'", DATA, False),
        # boolean operators and precedence: not > and > or
        ("a and b", {"a": True, "b": True}, True),
        ("a and b", {"a": True, "b": False}, False),
        ("a or b", {"a": False, "b": False}, False),
        ("a or b", {"a": False, "b": 1}, True),
        ("a or b and c", {"a": True, "b": False, "c": False}, True),
        ("(a or b) and c", {"a": True, "b": False, "c": False}, False),
        ("not a and b", {"a": False, "b": False}, False),
        ("not (a and b)", {"a": False, "b": False}, True),
        ("not a == b", {"a": 1, "b": 2}, True),
        ("not not a", {"a": "x"}, True),
        ("not (a or b)", {"a": False, "b": False}, True),
        ("a and b or c and d", {"a": False, "b": True, "c": True, "d": True}, True),
        ("a and (b or c) and d", {"a": True, "b": False, "c": True, "d": False}, False),
        ("((a))", {"a": 1}, True),
        (f"{ID}.type == 'urgent' and {ID}.area.count >= 3 and 'b' in {ID}.tags", DATA, True),
    ],
)
def test_evaluation(expression: str, data: Mapping[str, Any], expected: bool) -> None:
    assert parse_condition(expression).matches(data) is expected


@pytest.mark.parametrize(
    ("expression", "position", "reason"),
    [
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
        ("a ==", 4, "unexpected end of expression"),
        ("a = 1", 2, "unexpected character '='"),
        ("a == 'abc", 5, "unterminated string"),
        ("a == 'abc\\'", 5, "unterminated string"),
        ("a == 'x\\q'", 7, "invalid escape '\\q'"),
        ("(a == 1", 7, "unexpected end of expression"),
        ("a == 1)", 6, "unexpected token ')'"),
        ("a b", 2, "unexpected token 'b'"),
        ("1 < 2 < 3", 6, "chained comparisons are not allowed"),
        ("a == b not in c", 7, "chained comparisons are not allowed"),
        ("import == 1", 0, "unknown name 'import'"),
        ("a == lambda", 5, "unknown name 'lambda'"),
        ("a is None", 2, "unexpected token 'is'"),
        ("a && b", 2, "unexpected character '&'"),
        ("!a", 0, "unexpected character '!'"),
        ("a and or b", 6, "expected a value, found 'or'"),
        ("not", 3, "unexpected end of expression"),
        ("12abc == 1", 0, "invalid number '12abc'"),
        ("1.5.3", 0, "invalid number '1.5.3'"),
        ("a[-1]", 2, "expected a string or integer key, found '-'"),
        ("a[b]", 2, "expected a string or integer key, found 'b'"),
        ("a.", 2, "unexpected end of expression"),
        ("a.'b'", 2, "expected a name after '.', found \"'b'\""),
        ("a.1", 2, "expected a name after '.', found '1'"),
        ("x in [1, 2", 10, "unexpected end of expression"),
        ("x in [1 2]", 8, "expected ',', found '2'"),
        ("x in [1, ]", 9, "expected a value, found ']'"),
        ("-x", 1, "expected a number after '-'"),
        ("__import__('os').system('x')", 10, "unexpected token '('"),
        ("(" * 60 + "a" + ")" * 60, 50, "expression nested too deeply"),
    ],
)
def test_syntax_errors(expression: str, position: int, reason: str) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(expression)
    assert caught.value.position == position
    assert caught.value.reason.startswith(reason)
    assert caught.value.source == expression


def test_seed_document_form() -> None:
    condition = parse_condition("context.initial_data.type == 'urgent'")
    root = {"context": {"initial_data": {"type": "urgent"}, "state_history": {}}}
    assert condition.matches(root) is True
    assert condition.matches({"context": {"initial_data": {"type": "normal"}, "state_history": {}}}) is False
    assert condition.matches({"context": {}}) is False
    assert condition.source == "context.initial_data.type == 'urgent'"
    assert condition.paths == ("context.initial_data.type",)


def test_paths_are_canonical_deduplicated_and_ordered() -> None:
    condition = parse_condition("a.b == 1 and c['x-y'][0] in a['b'] or not d.e.f and c[\"x-y\"][0] and g[\"it's\"]")
    assert condition.paths == ("a.b", "c['x-y'][0]", "d.e.f", 'g["it\'s"]')
    assert parse_condition("1 == 1").paths == ()


def test_and_or_short_circuit_and_return_bools() -> None:
    class Recording(Mapping[str, Any]):
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data
            self.read: list[str] = []

        def __getitem__(self, key: str) -> Any:
            self.read.append(key)
            return self.data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self.data)

        def __len__(self) -> int:
            return len(self.data)

    root = Recording({"yes": "x", "no": 0, "other": 1})
    assert parse_condition("no and other").matches(root) is False
    assert parse_condition("yes or other").matches(root) is True
    assert root.read == ["no", "yes"]
    assert parse_condition("yes or other").tree.evaluate(root) is True
    assert parse_condition("yes and no").tree.evaluate(root) is False
    assert parse_condition("not no").tree.evaluate(root) is True


def test_objects_resolve_public_attributes_only() -> None:
    class Exploding:
        @property
        def boom(self) -> str:
            raise RuntimeError("a property that fails")

    job = SimpleNamespace(status="open", _secret="hidden", nested=SimpleNamespace(level=2), bad=Exploding())
    root = {"job": job}
    assert parse_condition("job.status == 'open'").matches(root) is True
    assert parse_condition("job.nested.level > 1").matches(root) is True
    assert parse_condition("job._secret == None").matches(root) is True
    assert parse_condition("job.__class__ == None").matches(root) is True
    assert parse_condition("job.__dict__").matches(root) is False
    assert parse_condition("job.bad.boom == None").matches(root) is True
    assert parse_condition("job['status'] == 'open'").matches(root) is True
    assert parse_condition("job[0] == None").matches(root) is True


def test_parsing_and_matching_never_execute_code(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the condition language must not execute code")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(ast, "literal_eval", forbidden)
    monkeypatch.setattr(ast, "parse", forbidden)
    condition = parse_condition("a.b in [1, 'x', None] and not (c['k'] >= -2.5 or d == \"q\\n\")")
    assert condition.matches({"a": {"b": "x"}, "c": {"k": -3}, "d": "q"}) is True
    monkeypatch.undo()
    with pytest.raises(ConditionSyntaxError):
        parse_condition("__import__('os').system('x')")
    with pytest.raises(ConditionSyntaxError):
        parse_condition("lambda: 1")


def test_condition_is_immutable() -> None:
    condition = parse_condition("a == 1")
    assert isinstance(condition, Condition)
    with pytest.raises(AttributeError):
        condition.source = "b == 1"  # type: ignore[misc]
    assert parse_condition("a == 1") == condition
