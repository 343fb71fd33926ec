"""The last fire of each schedule, in the store: what the scheduler made last, so that a leader
that takes over, or a node that starts after all were down, knows where to go on from.

- ``record_fire`` only moves forward: a fire no later than the one recorded changes nothing, so
  a paused ex-leader that wakes up and records an old fire cannot move a schedule back.
- Unfenced on purpose: the fire's job id is what makes a fire once (``engine.schedules``), the
  record only says how far the schedule got.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec


class Fire(msgspec.Struct, frozen=True):
    """A fire made: its instant (whole epoch seconds) and the id of the job it started. An empty
    ``job_id`` marks where a schedule that never fired starts: its fires come after ``at``."""

    at: int
    job_id: str


class ScheduleStore(Protocol):
    async def last_fires(self, names: Sequence[str]) -> dict[str, Fire]:
        """The last fire recorded for each of ``names`` that has one (one round trip)."""

    async def record_fire(self, name: str, fire: Fire) -> bool:
        """Record ``fire`` as ``name``'s last unless a fire at the same or a later instant is
        recorded (atomic); True if it was recorded."""
