"""The blueprint DSL: seed-compatible registration, upstream aliases, validation, handler lookup."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Blueprint, BlueprintError, StateMachineBlueprint
from engine.registry import BlueprintRegistry


def _root(**initial_data: Any) -> dict[str, Any]:
    """A ``.when()`` evaluation root, as ``JobContext.condition_root`` builds it."""
    return {"context": {"initial_data": initial_data, "state_history": {}}}


def _linear(name: str = "bp") -> StateMachineBlueprint:
    bp = StateMachineBlueprint(name)

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    return bp


# -- registration -------------------------------------------------------------------------------


def test_handler_for_registers_start_and_end_states() -> None:
    bp = _linear()

    bp.validate()

    assert bp.start_state == "start"
    assert bp.end_states == frozenset({"end"})


def test_handler_for_returns_the_function_unchanged() -> None:
    bp = StateMachineBlueprint("bp")

    async def start(actions: Any) -> None:
        actions.transition_to("start")

    assert bp.handler_for("start", is_start=True)(start) is start


def test_when_chained_registers_a_conditional_handler() -> None:
    bp = _linear()

    @bp.handler_for("start").when("context.initial_data.kind == 'fast'")
    async def fast(actions: Any) -> None:
        actions.transition_to("end")

    spec = bp.states["start"]
    assert [h.func for h in spec.conditional] == [fast]
    assert spec.is_start  # the start flag given by the default handler is kept


def test_condition_keyword_is_the_same_as_when() -> None:
    bp = _linear()

    @bp.handler_for("start", condition="context.initial_data.kind == 'fast'")
    async def fast(actions: Any) -> None:
        actions.transition_to("end")

    assert bp.find_handler("start", _root(kind="fast")).func is fast  # type: ignore[union-attr]


def test_aggregator_for_registers_the_fan_in_handler() -> None:
    bp = _linear()

    @bp.handler_for("start").when("context.initial_data.fan_out == true")
    async def fan_out(actions: Any) -> None:
        actions.dispatch_parallel([{"type": "echo", "params": {}}], aggregate_into="gather")

    @bp.aggregator_for("gather")
    async def gather(aggregation_results: Any, actions: Any) -> None:
        actions.transition_to("end")

    assert bp.states["gather"].aggregator is not None
    assert bp.find_handler("gather", _root()).func is gather  # type: ignore[union-attr]
    bp.validate()


def test_blueprint_is_an_alias_of_state_machine_blueprint() -> None:
    assert Blueprint is StateMachineBlueprint


def test_bare_handler_decorator_uses_the_function_name_as_state() -> None:
    bp = Blueprint("bp")

    @bp.handler
    async def working(actions: Any) -> None:
        actions.transition_to("working")

    assert "working" in bp.states
    assert bp.states["working"].default is not None


def test_handler_with_a_state_name() -> None:
    bp = Blueprint("bp")

    @bp.handler("review")
    async def check(actions: Any) -> None:
        actions.transition_to("review")

    assert list(bp.states) == ["review"]


def test_handler_with_is_start_and_is_end_keywords() -> None:
    bp = Blueprint("bp")

    @bp.handler(is_start=True)
    async def begin(actions: Any) -> None:
        actions.go_to("finish")

    @bp.handler(is_end=True)
    async def finish() -> None:
        pass

    bp.validate()
    assert bp.start_state == "begin"
    assert bp.end_states == frozenset({"finish"})


def test_go_to_target_is_collected_and_checked() -> None:
    bp = Blueprint("bp")

    @bp.handler(is_start=True)
    async def begin(actions: Any) -> None:
        actions.go_to("nowhere")

    @bp.handler(is_end=True)
    async def finish() -> None:
        pass

    with pytest.raises(BlueprintError, match="'nowhere'") as caught:
        bp.validate()
    assert caught.value.state == "begin"


def test_registry_validates_on_register() -> None:
    bp = StateMachineBlueprint("bp")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("start")

    with pytest.raises(BlueprintError, match="end state"):
        BlueprintRegistry().register(bp)


def test_blank_name_is_refused() -> None:
    with pytest.raises(BlueprintError):
        StateMachineBlueprint("  ")


# -- validation errors name the blueprint and the state -----------------------------------------


def test_no_start_state_is_an_error() -> None:
    bp = StateMachineBlueprint("nostart")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    with pytest.raises(BlueprintError, match="exactly one start state") as caught:
        bp.validate()
    assert caught.value.blueprint == "nostart"
    assert "'nostart'" in str(caught.value)


def test_two_start_states_are_an_error_naming_both() -> None:
    bp = _linear("twostarts")

    @bp.handler_for("other", is_start=True)
    async def other(actions: Any) -> None:
        actions.transition_to("end")

    with pytest.raises(BlueprintError) as caught:
        bp.validate()
    message = str(caught.value)
    assert "'twostarts'" in message
    assert "'start'" in message
    assert "'other'" in message


def test_no_end_state_is_an_error() -> None:
    bp = StateMachineBlueprint("noend")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("start")

    with pytest.raises(BlueprintError, match="end state") as caught:
        bp.validate()
    assert "'noend'" in str(caught.value)


def test_dangling_transition_to_target_is_an_error() -> None:
    bp = _linear("dangling")

    @bp.handler_for("middle")
    async def middle(actions: Any) -> None:
        actions.transition_to("nowhere")

    with pytest.raises(BlueprintError) as caught:
        bp.validate()
    assert caught.value.blueprint == "dangling"
    assert caught.value.state == "middle"
    assert "'nowhere'" in str(caught.value)
    assert "'middle'" in str(caught.value)


def test_dangling_target_in_transitions_keyword_is_an_error() -> None:
    bp = _linear()

    @bp.handler_for("work")
    async def work(actions: Any) -> None:
        actions.dispatch_task("echo", {}, transitions={"success": "end", "failure": "lost"})

    with pytest.raises(BlueprintError, match="'lost'") as caught:
        bp.validate()
    assert caught.value.state == "work"


def test_dangling_target_in_positional_dispatch_transitions_is_an_error() -> None:
    bp = _linear()

    @bp.handler_for("work")
    async def work(actions: Any) -> None:
        actions.dispatch_task("echo", {"x": 1}, {"success": "gone"})

    with pytest.raises(BlueprintError, match="'gone'") as caught:
        bp.validate()
    assert caught.value.state == "work"


def test_literal_targets_that_exist_validate() -> None:
    bp = _linear()

    @bp.handler_for("start").when("context.initial_data.work == true")
    async def to_work(actions: Any) -> None:
        actions.transition_to("work")

    @bp.handler_for("work")
    async def work(actions: Any) -> None:
        actions.dispatch_task("echo", {"x": 1}, {"success": "end", "failure": "start"})

    bp.validate()


def test_two_default_handlers_for_one_state_are_an_error() -> None:
    bp = _linear("twodefaults")

    with pytest.raises(BlueprintError, match="two default handlers") as caught:

        @bp.handler_for("start")
        async def again(actions: Any) -> None:
            actions.transition_to("end")

    assert caught.value.blueprint == "twodefaults"
    assert caught.value.state == "start"


@pytest.mark.parametrize(
    ("expression", "position"),
    [
        ("context.initial_data.x == ", 26),
        ("context.initial_data.x = 1", 23),
    ],
)
def test_malformed_when_names_blueprint_state_and_position(expression: str, position: int) -> None:
    bp = _linear("conds")

    with pytest.raises(BlueprintError) as caught:

        @bp.handler_for("start").when(expression)
        async def bad(actions: Any) -> None:
            actions.transition_to("end")

    message = str(caught.value)
    assert caught.value.blueprint == "conds"
    assert caught.value.state == "start"
    assert "'conds'" in message
    assert "'start'" in message
    assert f"position {position}" in message


def test_non_async_handler_is_an_error() -> None:
    bp = StateMachineBlueprint("sync")

    def start(actions: Any) -> None:
        actions.transition_to("start")

    with pytest.raises(BlueprintError, match="async") as caught:
        bp.handler_for("start", is_start=True)(start)  # type: ignore[arg-type]  # not async, on purpose
    assert caught.value.blueprint == "sync"
    assert caught.value.state == "start"
    assert "'start'" in str(caught.value)


def test_declared_dynamic_target_is_validated() -> None:
    bp = _linear()

    @bp.handler_for("route", transitions=["end", "missing"])
    async def route(actions: Any, initial_data: Any) -> None:
        actions.transition_to(initial_data["next"])

    with pytest.raises(BlueprintError, match="'missing'") as caught:
        bp.validate()
    assert caught.value.state == "route"


def test_declared_dynamic_targets_that_exist_validate() -> None:
    bp = _linear()

    @bp.handler_for("start").when("context.initial_data.route == true")
    async def to_route(actions: Any) -> None:
        actions.transition_to("route")

    @bp.handler_for("route", transitions=["end", "start"])
    async def route(actions: Any, initial_data: Any) -> None:
        actions.transition_to(initial_data["next"])

    bp.validate()
    assert bp.states["route"].default is not None
    assert bp.states["route"].default.targets == frozenset({"end", "start"})


# -- find_handler -------------------------------------------------------------------------------


def _branching() -> tuple[StateMachineBlueprint, dict[str, Any]]:
    bp = _linear()
    funcs: dict[str, Any] = {}

    @bp.handler_for("work")
    async def default(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("work").when("context.initial_data.size > 10")
    async def big(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("work").when("context.initial_data.size > 5")
    async def medium(actions: Any) -> None:
        actions.transition_to("end")

    funcs.update(default=default, big=big, medium=medium)
    return bp, funcs


def test_find_handler_takes_the_first_matching_condition_in_registration_order() -> None:
    bp, funcs = _branching()

    # size 20 matches both conditions: the one registered first wins
    assert bp.find_handler("work", _root(size=20)).func is funcs["big"]  # type: ignore[union-attr]
    assert bp.find_handler("work", _root(size=7)).func is funcs["medium"]  # type: ignore[union-attr]


def test_find_handler_falls_back_to_the_default_even_if_registered_first() -> None:
    bp, funcs = _branching()

    assert bp.find_handler("work", _root(size=1)).func is funcs["default"]  # type: ignore[union-attr]


def test_find_handler_without_a_match_or_default_is_none() -> None:
    bp = _linear()

    @bp.handler_for("work").when("context.initial_data.size > 10")
    async def big(actions: Any) -> None:
        actions.transition_to("end")

    assert bp.find_handler("work", _root(size=1)) is None
    assert bp.find_handler("unknown", _root()) is None
