"""The router's ranking (engine.routing): hot first, then least loaded, then by worker id."""

from __future__ import annotations

import pytest

from engine.routing import Candidate, choose, rank


def worker(worker_id: str, *, load: int = 0, hot: tuple[str, ...] = (), status: str = "idle") -> Candidate:
    return Candidate(worker_id, status, frozenset(hot), load)


def test_a_worker_holding_the_model_comes_first_however_loaded() -> None:
    candidates = [worker("a"), worker("b", load=5, hot=("model-x",))]

    assert choose(candidates, "generate", {"model_name": "model-x"}) == "b"


def test_a_worker_hot_for_the_skill_comes_first() -> None:
    candidates = [worker("a"), worker("b", load=3, hot=("generate",))]

    assert choose(candidates, "generate", {}) == "b"


def test_a_model_hot_elsewhere_does_not_count_when_the_task_names_another() -> None:
    candidates = [worker("a", load=1), worker("b", load=2, hot=("model-y",))]

    assert choose(candidates, "generate", {"model_name": "model-x"}) == "a"


@pytest.mark.parametrize("name", [None, 7, ""])
def test_a_model_name_that_is_not_a_string_names_no_model(name: object) -> None:
    candidates = [worker("a", load=1), worker("b", load=2, hot=("7",))]

    assert choose(candidates, "generate", {"model_name": name}) == "a"


def test_without_a_hot_worker_the_least_loaded_comes_first() -> None:
    candidates = [worker("a", load=3), worker("b", load=1), worker("c", load=2)]

    assert [c.worker_id for c in rank(candidates, "generate", {})] == ["b", "c", "a"]


def test_among_hot_workers_the_least_loaded_comes_first() -> None:
    candidates = [worker("a", load=2, hot=("model-x",)), worker("b", load=1, hot=("model-x",)), worker("c")]

    assert [c.worker_id for c in rank(candidates, "generate", {"model_name": "model-x"})] == ["b", "a", "c"]


@pytest.mark.parametrize("status", ["offline", "draining", "full"])
def test_workers_that_will_not_poll_are_left_out(status: str) -> None:
    candidates = [worker("a", status=status, hot=("model-x",)), worker("b", load=9)]

    assert choose(candidates, "generate", {"model_name": "model-x"}) == "b"
    assert choose(candidates[:1], "generate", {}) is None


def test_busy_and_idle_workers_are_both_candidates() -> None:
    candidates = [worker("a", status="busy", load=0), worker("b", status="idle", load=1)]

    assert choose(candidates, "generate", {}) == "a"


def test_ties_go_to_the_lowest_worker_id_whatever_the_order_given() -> None:
    candidates = [worker("w3"), worker("w1"), worker("w2")]

    assert choose(candidates, "generate", {}) == "w1"
    assert choose(list(reversed(candidates)), "generate", {}) == "w1"


def test_no_candidates_choose_nobody() -> None:
    assert choose([], "generate", {}) is None
