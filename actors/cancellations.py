"""Telling workers at once that a task they may be running was cancelled (best effort).

The job actor (a cancelled job's task) and the aggregator (a cancelled group's unsettled
branches) call ``announce`` after their commit succeeded, never before: a notice is only ever
about a cancellation that is stored. It is not part of the outbox, so a redelivery does not repeat
it, and a node dying between the commit and the announcement loses it. Neither matters: the
worker's next heartbeat answer lists the task in ``cancel_task_ids`` (``transport.gateway
.worker_api``), which stays the guaranteed path; this one only makes it fast, through the
gateway holding the worker's WebSocket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import msgspec

from actors.ports.store import CancelBroadcast, LeaseStore
from engine.messages import CancelNotice


class AnnouncerStore(LeaseStore, CancelBroadcast, Protocol):
    """What ``announce`` needs: the leases (a notice's worker) and the broadcast."""


async def announce(store: AnnouncerStore, notices: Sequence[CancelNotice]) -> None:
    """Announce ``notices`` to the gateways (``CancelBroadcast.announce_cancels``). A notice without a worker
    (the actor had not heard of the pickup yet) takes the worker from the task's lease, read
    concurrently; a task without a lease was never taken, or its worker is done with it, and is
    left out."""
    if not notices:
        return
    unnamed = [notice for notice in notices if notice.worker_id is None]
    leases = await asyncio.gather(*(store.get_lease(notice.task_id) for notice in unnamed))
    named = [notice for notice in notices if notice.worker_id is not None]
    named += [
        msgspec.structs.replace(notice, worker_id=lease.worker_id)
        for notice, lease in zip(unnamed, leases, strict=True)
        if lease is not None
    ]
    if named:
        await store.announce_cancels(named)
