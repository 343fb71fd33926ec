"""The blueprint graph: edges of every kind with their labels, validation on it, DOT, the CLI.

The golden file ``tests/unit/golden/demo.dot`` is the DOT of ``blueprints/demo.py``. After a
deliberate change to the drawing, regenerate it with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_graph.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from blueprints.demo import demo
from engine import BlueprintError, StateMachineBlueprint
from engine.graph import Edge, Node, build_graph, to_dot
from tests.support.servers import need_executable
from transport.app.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden") / "demo.dot"


def need_dot() -> None:
    """Skip when Graphviz's ``dot`` is missing locally; fail when ``CI`` is set (STYLE.md, rule 3)."""
    need_executable("dot", "Graphviz: apt-get install graphviz")


def review() -> StateMachineBlueprint:
    """One edge of each kind. ``await_human_approval`` and ``run_blueprint`` only need to parse."""
    bp = StateMachineBlueprint("review")

    @bp.handler_for("start", is_start=True).when("context.initial_data.urgent == true")
    async def rush(actions: Any) -> None:
        actions.go_to("approve")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_task("draft", {}, transitions={"success": "approve", "failure": "failed"})

    @bp.handler_for("approve")
    async def approve(actions: Any) -> None:
        actions.await_human_approval("slack", "ship it?", transitions={"approved": "publish", "rejected": "failed"})

    @bp.handler_for("publish")
    async def publish(actions: Any) -> None:
        actions.run_blueprint("publisher", {}, {"success": "translate", "failure": "failed"})

    @bp.handler_for("translate")
    async def translate(actions: Any, initial_data: dict[str, Any]) -> None:
        tasks = [{"type": "translate", "params": {"lang": lang}} for lang in initial_data["langs"]]
        actions.dispatch_parallel(tasks, aggregate_into="gather")

    @bp.aggregator_for("gather")
    async def gather(actions: Any) -> None:
        actions.transition_to("route")

    @bp.handler_for("route", transitions=["done", "failed"])
    async def route(actions: Any, state_history: dict[str, Any]) -> None:
        actions.transition_to(state_history["verdict"])

    @bp.handler_for("done", is_end=True)
    async def done() -> None:
        pass

    @bp.handler_for("failed", is_end=True)
    async def failed() -> None:
        pass

    return bp


# -- the graph ----------------------------------------------------------------------------------


def test_every_kind_of_transition_is_an_edge_with_its_label() -> None:
    graph = build_graph(review())

    assert set(graph.edges) == {
        Edge("start", "approve", "transition", "", "context.initial_data.urgent == true"),
        Edge("start", "approve", "task", "success", "else"),
        Edge("start", "failed", "task", "failure", "else"),
        Edge("approve", "publish", "approval", "approved"),
        Edge("approve", "failed", "approval", "rejected"),
        Edge("publish", "translate", "child", "publisher: success"),
        Edge("publish", "failed", "child", "publisher: failure"),
        Edge("translate", "gather", "aggregate"),
        Edge("gather", "route", "transition"),
        Edge("route", "done", "declared"),
        Edge("route", "failed", "declared"),
    }
    assert list(graph.edges) == sorted(graph.edges)
    assert graph.unread == ()


def test_edge_text_joins_the_outcome_and_the_condition() -> None:
    texts = {(e.source, e.target, e.kind): e.text for e in build_graph(review()).edges}

    assert texts["start", "approve", "transition"] == "[context.initial_data.urgent == true]"
    assert texts["start", "approve", "task"] == "success [else]"
    assert texts["publish", "failed", "child"] == "publisher: failure"
    assert texts["translate", "gather", "aggregate"] == "fan-in"
    assert texts["route", "done", "declared"] == "dynamic"
    assert texts["gather", "route", "transition"] == ""


def test_nodes_are_sorted_with_start_and_end_marked() -> None:
    graph = build_graph(review())

    assert graph.start == "start"
    assert [n.name for n in graph.nodes] == sorted(n.name for n in graph.nodes)
    assert Node("start", is_start=True) in graph.nodes
    assert {n.name for n in graph.nodes if n.is_end} == {"done", "failed"}
    assert not any(n.missing for n in graph.nodes)


def test_a_blueprint_with_every_kind_of_edge_validates() -> None:
    review().validate()


def test_a_literal_target_without_a_handler_is_dangling() -> None:
    bp = review()

    @bp.handler_for("approve").when("context.initial_data.skip == true")
    async def skip(actions: Any) -> None:
        actions.dispatch_task("x", {}, {"success": "nowhere"})

    graph = build_graph(bp)

    assert graph.dangling() == (Edge("approve", "nowhere", "task", "success", "context.initial_data.skip == true"),)
    assert Node("nowhere", missing=True) in graph.nodes
    assert '"nowhere (no handler)"' in to_dot(graph)
    with pytest.raises(BlueprintError, match="'nowhere', which has no handler") as caught:
        bp.validate()
    assert caught.value.state == "approve"


def test_unreachable_states_are_an_error_naming_them() -> None:
    bp = review()

    @bp.handler_for("orphan")
    async def orphan(actions: Any) -> None:
        actions.transition_to("also_orphan")

    @bp.handler_for("also_orphan")
    async def also_orphan(actions: Any) -> None:
        actions.transition_to("done")

    assert build_graph(bp).unreachable() == ("also_orphan", "orphan")
    with pytest.raises(BlueprintError, match="reaches 'also_orphan', 'orphan'") as caught:
        bp.validate()
    assert caught.value.blueprint == "review"
    assert "handler_for(..., transitions=[...])" in str(caught.value)


def test_a_state_reachable_only_through_a_declared_target_is_reachable() -> None:
    bp = StateMachineBlueprint("declared")

    @bp.handler_for("start", is_start=True, transitions=["left", "right"])
    async def start(actions: Any, initial_data: dict[str, Any]) -> None:
        actions.transition_to(initial_data["side"])

    for side in ("left", "right"):

        async def end() -> None:
            pass

        bp.handler_for(side, is_end=True)(end)

    bp.validate()
    assert build_graph(bp).unreachable() == ()


def test_an_aggregator_declares_the_targets_it_chooses_at_run_time() -> None:
    bp = StateMachineBlueprint("declared_fan_in")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.dispatch_parallel([{"type": "echo"}], aggregate_into="gather")

    @bp.aggregator_for("gather", transitions=["good", "bad"])
    async def gather(actions: Any, aggregation_results: dict[str, Any]) -> None:
        actions.transition_to("good" if aggregation_results else "bad")

    for name in ("good", "bad"):

        async def end() -> None:
            pass

        bp.handler_for(name, is_end=True)(end)

    bp.validate()
    assert build_graph(bp).unreachable() == ()


def test_reachability_is_not_checked_when_a_handler_has_no_source() -> None:
    bp = StateMachineBlueprint("generated")
    namespace: dict[str, Any] = {}
    exec("async def start(actions):\n    actions.transition_to('end')\n", namespace)  # no source file
    bp.handler_for("start", is_start=True)(namespace["start"])

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    graph = build_graph(bp)

    assert graph.unread == ("start",)
    assert graph.unreachable() == ("end",)
    bp.validate()


# -- DOT ----------------------------------------------------------------------------------------


def test_dot_labels_and_styles_edges_by_kind_and_marks_start_and_end() -> None:
    dot = to_dot(build_graph(review()))

    assert dot.startswith("digraph review {")
    assert 'start [fillcolor="#d9f2d9" style="rounded,filled,bold"]' in dot
    assert 'done [fillcolor="#eeeeee" peripheries=2 style="rounded,filled"]' in dot
    assert 'start -> approve [label="success [else]" color="#1f5fa8"' in dot
    assert 'approve -> publish [label=approved color="#b35900" fontcolor="#b35900" style=dashed]' in dot
    assert 'publish -> translate [label="publisher: success" color="#6a3d9a"' in dot
    assert 'translate -> gather [label="fan-in" arrowhead=diamond style=dashed]' in dot
    assert "route -> done [label=dynamic style=dotted]" in dot


def test_dot_is_the_same_whatever_the_registration_order() -> None:
    def build(order: list[str]) -> StateMachineBlueprint:
        bp = StateMachineBlueprint("order")
        for state in order:

            async def handler(actions: Any) -> None:
                actions.transition_to("b")

            bp.handler_for(state, is_start=state == "a", is_end=state == "c", transitions=["c"])(handler)
        return bp

    assert to_dot(build_graph(build(["a", "b", "c"]))) == to_dot(build_graph(build(["c", "b", "a"])))


def test_a_condition_with_quotes_and_backslashes_stays_one_label() -> None:
    bp = StateMachineBlueprint("quoted")

    @bp.handler_for("start", is_start=True).when('context.initial_data.name == "a\\\\n\\"b"')
    async def quoted(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("start", is_start=True)
    async def start(actions: Any) -> None:
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None:
        pass

    assert 'start -> end [label="[context.initial_data.name == \\"a\\\\\\\\n\\\\\\"b\\"]"]' in to_dot(build_graph(bp))


def test_demo_dot_matches_the_golden_file() -> None:
    dot = to_dot(build_graph(demo))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(dot)
    assert dot == GOLDEN.read_text(), "regenerate with UPDATE_GOLDEN=1 if the change is intended"


# -- avtomat graph ------------------------------------------------------------------------------


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLUEPRINTS_DIR", str(ROOT / "blueprints"))
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("ENV", raising=False)


@pytest.mark.usefixtures("demo_env")
def test_cli_prints_dot_without_an_output_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "demo"]) == 0

    assert capsys.readouterr().out == GOLDEN.read_text()


@pytest.mark.usefixtures("demo_env")
def test_cli_writes_a_dot_file(tmp_path: Path) -> None:
    out = tmp_path / "demo.gv"

    assert main(["graph", "demo", "-o", str(out)]) == 0

    assert out.read_text() == GOLDEN.read_text()


@pytest.mark.usefixtures("demo_env")
def test_cli_writes_an_svg_file(tmp_path: Path) -> None:
    need_dot()
    out = tmp_path / "demo.svg"

    assert main(["graph", "demo", "-o", str(out)]) == 0

    svg = out.read_text()
    assert "<svg" in svg
    assert "not_greeted" in svg


@pytest.mark.usefixtures("demo_env")
def test_cli_without_graphviz_fails_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot executable on it

    assert main(["graph", "demo", "-o", str(tmp_path / "demo.svg")]) == 1

    assert "'dot' executable" in capsys.readouterr().err
    assert not (tmp_path / "demo.svg").exists()


@pytest.mark.usefixtures("demo_env")
def test_cli_unknown_blueprint_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "nope"]) == 2

    assert "'nope': no such blueprint; known: demo" in capsys.readouterr().err


@pytest.mark.usefixtures("demo_env")
def test_cli_unknown_suffix_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "demo", "-o", str(tmp_path / "demo.jpg")]) == 2

    assert ".dot, .gv, .svg, .png" in capsys.readouterr().err
