"""Feed entries as job commits make them, for the archive's tests."""

from __future__ import annotations

import msgspec

from actors.ports.archive import FeedEntry
from engine.history import HistoryEvent, encode_event
from engine.job import JobState, encode_state


def job(job_id: str, *, version: int = 1, created_at: float = 1000.0, **fields: object) -> JobState:
    base = JobState(
        id=job_id,
        blueprint="tiny",
        client_id="client-a",
        current_state="start",
        initial_data={},
        created_at=created_at,
        updated_at=created_at,
        version=version,
    )
    return msgspec.structs.replace(base, **fields)


def entry(state: JobState, *events: str, entry_id: str = "0-1") -> FeedEntry:
    """The feed entry of committing ``state`` with one event per name in ``events``."""
    at, where = state.updated_at, state.current_state
    blobs = tuple(encode_event(HistoryEvent(at=at, event=name, state=where)) for name in events)
    return FeedEntry(id=entry_id, state=encode_state(state), events=blobs)
