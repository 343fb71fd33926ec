"""Fan-out groups in the store.

A fan-out group is a small versioned header, written by compare-and-set as a job is, and one
record per branch beside it (ADR 0007). A commit writes the header and the branches it is given
in one atomic step, so a branch changes only together with the header's version; loading one
branch (by any task id it ran) and committing one cost the same whatever the number of branches.
Only the aggregator writes a group; the gateway reads a branch to tell a live branch task from a
stale one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.group import BranchState, GroupState


class GroupStore(Protocol):
    async def create_group(self, state: GroupState) -> bool:
        """Store a new group header (version 1), with no branches yet; False if the id exists
        already (the first one is kept)."""

    async def load_group(self, group_id: str) -> GroupState | None:
        """The group's header, without its branches."""

    async def load_branch(self, group_id: str, task_id: str) -> BranchState | None:
        """The branch of the group that ran ``task_id``: its first task (the branch's key) or any
        retry of it that a commit wrote. None if no branch did, or there is no such group."""

    async def load_branches(self, group_id: str) -> list[BranchState]:
        """Every branch of the group, in no particular order ([] if none). Reads all of them: the
        aggregator calls it once, when the last branch settles."""

    async def commit_group(
        self, state: GroupState, expected_version: int, branches: Sequence[BranchState] = ()
    ) -> None:
        """Write ``state`` as version ``expected_version + 1`` together with ``branches`` (each under
        its key, replacing the stored one; the id of its current task then finds it too), in one
        atomic step; or raise ``VersionConflict`` and write nothing. A done or cancelled group
        expires, branches included, as a finished job does (where the store expires those)."""
