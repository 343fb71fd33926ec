"""Which worker a task is reserved for: the ranking the router applies, pure (no I/O).

A candidate is a live worker that has the task's skill. Workers reporting ``offline``,
``draining`` or ``full`` are left out: they will not poll for it. The rest are ranked

1. hot first: the task's ``params["model_name"]`` (when a string), or the skill itself, is in the
   worker's hot skills;
2. then least loaded: the tasks of its last heartbeat plus the reservations made for it since;
3. then by worker id, so equal candidates always rank the same way.

The ranking only chooses whom to *reserve* a task for; the task stays in its skill's queue and
anyone capable takes it once the reservation lapses (see ``actors.ports.store.Store.push_task``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EXCLUDED_STATUSES = frozenset({"offline", "draining", "full"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A capable worker as the router sees it: ``load`` already includes its reservations."""

    worker_id: str
    status: str
    hot: frozenset[str]
    load: int


def model_name(params: Mapping[str, Any]) -> str | None:
    """The model a task asks for, if its params name one as a string."""
    name = params.get("model_name")
    return name if isinstance(name, str) and name else None


def tiered(candidates: Iterable[Candidate], skill: str, params: Mapping[str, Any]) -> list[tuple[Candidate, int]]:
    """Eligible candidates with their tier (0: hot, 1: not), by tier then worker id: ``rank``'s
    order but for the load, for a store that adds the loads it counts and picks atomically."""
    wanted = {skill} | ({model} if (model := model_name(params)) else set())
    eligible = [(c, 0 if wanted & c.hot else 1) for c in candidates if c.status not in EXCLUDED_STATUSES]
    return sorted(eligible, key=lambda ct: (ct[1], ct[0].worker_id))


def rank(candidates: Iterable[Candidate], skill: str, params: Mapping[str, Any]) -> list[Candidate]:
    """Eligible candidates, best first (hot, then least loaded, then by worker id)."""
    ranked = sorted(tiered(candidates, skill, params), key=lambda ct: (ct[1], ct[0].load, ct[0].worker_id))
    return [c for c, _ in ranked]


def choose(candidates: Iterable[Candidate], skill: str, params: Mapping[str, Any]) -> str | None:
    """The id of the worker to reserve the task for, or None when no candidate is eligible."""
    ranked = rank(candidates, skill, params)
    return ranked[0].worker_id if ranked else None
