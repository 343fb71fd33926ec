"""The graph of a blueprint: its states, and every transition its handlers can make.

``build_graph`` reads it from the handlers (``engine.targets`` parses their source; targets
declared with ``handler_for(..., transitions=[...])`` are edges of kind ``declared``).
``StateMachineBlueprint.validate`` checks it (dangling targets, unreachable states) and
``to_dot`` draws it. Building and drawing are pure: turning DOT into SVG or PNG needs Graphviz's
``dot`` executable and happens in ``transport``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import graphviz

from engine.targets import AGGREGATE, APPROVAL, CHILD, DECLARED, TASK, TRANSITION, source_targets

if TYPE_CHECKING:
    from engine.blueprint import Handler, StateMachineBlueprint, StateSpec

ELSE = "else"
"""The guard of a state's unconditional handlers when it also has ``.when()`` handlers."""

_KIND_LABELS = {AGGREGATE: "fan-in", DECLARED: "dynamic"}


@dataclass(frozen=True, slots=True, order=True)
class Edge:
    """``source -> target``. ``kind`` is the call that makes the transition (``engine.targets``
    kinds: transition, task, approval, child, aggregate; or declared); ``label`` the outcome that
    leads there (task status, approval decision, ``child: outcome``); ``condition`` the ``.when()``
    source of a conditional handler, or ``else``."""

    source: str
    target: str
    kind: str
    label: str = ""
    condition: str = ""

    @property
    def text(self) -> str:
        """What the drawing writes on the edge: ``success [context.initial_data.x == 1]``."""
        guard = f"[{self.condition}]" if self.condition else ""
        return " ".join(part for part in (self.label or _KIND_LABELS.get(self.kind, ""), guard) if part)


@dataclass(frozen=True, slots=True)
class Node:
    """A state; ``missing`` when it is only a target no handler serves (an invalid blueprint)."""

    name: str
    is_start: bool = False
    is_end: bool = False
    missing: bool = False


@dataclass(frozen=True, slots=True)
class BlueprintGraph:
    """Nodes sorted by name, edges sorted; ``unread`` lists the states with a handler whose source
    could not be read, whose transitions are therefore unknown unless declared."""

    name: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    unread: tuple[str, ...] = ()

    @property
    def start(self) -> str | None:
        return next((node.name for node in self.nodes if node.is_start), None)

    def dangling(self) -> tuple[Edge, ...]:
        """The edges into a state that has no handler."""
        missing = {node.name for node in self.nodes if node.missing}
        return tuple(edge for edge in self.edges if edge.target in missing)

    def unreachable(self) -> tuple[str, ...]:
        """The states with a handler that no path from the start state reaches, sorted; every
        state when there is no start state."""
        reached: set[str] = set()
        queue = deque([self.start] if self.start is not None else [])
        while queue:
            state = queue.popleft()
            if state not in reached:
                reached.add(state)
                queue.extend(edge.target for edge in self.edges if edge.source == state)
        return tuple(node.name for node in self.nodes if not node.missing and node.name not in reached)


def build_graph(bp: StateMachineBlueprint) -> BlueprintGraph:
    """The graph of ``bp`` as registered so far; reads each handler's source (see ``engine.targets``)."""
    edges: set[Edge] = set()
    unread: set[str] = set()
    for spec in bp.states.values():
        for handler in spec.handlers():
            found, readable = _edges_of(spec, handler)
            edges |= found
            if not readable:
                unread.add(spec.name)
    states = [Node(s.name, s.is_start, s.is_end) for s in bp.states.values()]
    missing = [Node(name, missing=True) for name in {e.target for e in edges} - bp.states.keys()]
    return BlueprintGraph(
        bp.name,
        tuple(sorted(states + missing, key=lambda node: node.name)),
        tuple(sorted(edges)),
        tuple(sorted(unread)),
    )


def _edges_of(spec: StateSpec, handler: Handler) -> tuple[set[Edge], bool]:
    """The edges out of ``spec`` that ``handler`` makes, and whether its source was readable."""
    parsed = source_targets(handler.func)
    condition = ELSE if spec.conditional else ""
    if handler.condition is not None:
        condition = handler.condition.source.strip()
    edges = {Edge(spec.name, t.state, t.kind, t.label, condition) for t in parsed.targets}
    declared = handler.targets - {t.state for t in parsed.targets}
    edges |= {Edge(spec.name, state, DECLARED, "", condition) for state in declared}
    return edges, parsed.readable


# -- DOT ----------------------------------------------------------------------------------------

_EDGE_STYLES: dict[str, dict[str, str]] = {
    TRANSITION: {},
    TASK: {"color": "#1f5fa8", "fontcolor": "#1f5fa8"},
    APPROVAL: {"color": "#b35900", "fontcolor": "#b35900", "style": "dashed"},
    CHILD: {"color": "#6a3d9a", "fontcolor": "#6a3d9a", "style": "bold"},
    AGGREGATE: {"style": "dashed", "arrowhead": "diamond"},
    DECLARED: {"style": "dotted"},
}


def to_dot(graph: BlueprintGraph) -> str:
    """Graphviz DOT source of ``graph``, the same text for the same graph (nodes and edges sorted).

    The start state is bold and green, end states have a double border, a target without a
    handler is red and dashed. Edges are coloured by kind: task status (blue), approval decision
    (orange, dashed), child blueprint outcome (purple, bold), fan-in (dashed, diamond head),
    declared dynamic target (dotted), plain transition (black).
    """
    dot = graphviz.Digraph(
        graph.name,
        graph_attr={
            "rankdir": "LR",
            "label": graphviz.escape(f"blueprint {graph.name}"),
            "labelloc": "t",
            "fontname": "Helvetica",
        },
        node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    for node in graph.nodes:
        dot.node(node.name, **_node_style(node))
    for edge in graph.edges:
        label = {"label": graphviz.escape(edge.text)} if edge.text else {}
        dot.edge(edge.source, edge.target, **label, **_EDGE_STYLES.get(edge.kind, {}))
    return str(dot.source)


def _node_style(node: Node) -> dict[str, str]:
    if node.missing:
        return {"label": graphviz.escape(f"{node.name} (no handler)"), "style": "dashed", "color": "red"}
    if node.is_start:
        return {"style": "rounded,filled,bold", "fillcolor": "#d9f2d9"}
    if node.is_end:
        return {"style": "rounded,filled", "fillcolor": "#eeeeee", "peripheries": "2"}
    return {}
