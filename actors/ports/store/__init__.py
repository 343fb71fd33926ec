"""The state-store contract, one small protocol per concern; the in-memory and Redis stores
implement them all.

- ``JobStore`` (``jobs``): versioned job state, its progress, history, quarantine index, claims.
- ``GroupStore`` (``groups``): fan-out group headers and their branches.
- ``DeadlineStore`` (``deadlines``): the scheduled envelopes (``Scheduled``).
- ``TaskQueue`` and ``LeaseStore`` (``tasks``): the task queue per skill, with its reservations,
  and the leases of taken tasks (``Lease``).
- ``WorkerRegistry`` (``workers``): registered workers (``WorkerRecord``).
- ``CancelBroadcast`` (``cancels``): cancellation notices to every process sharing the store.
- ``ScheduleStore`` (``schedules``): the last fire of each schedule (``Fire``).
- ``HolonTasks`` (``holon``): the parent orchestrator's tasks running here (Pure Holon mode).
- ``RateLimits``, ``ClientQuotas``, ``WorkerTokens`` (``tenancy``): the gateways' rate-limit
  buckets, job quotas and worker token table.
- ``StsGrants`` (``sts``): the SDK's STS tokens, as serials and digests (ADR 0024).
- ``WebhookStore`` (``webhooks``): pending webhook deliveries (``WebhookDelivery``), claimed
  with a lease, and each client's dead list.
- ``JobListing`` (``actors.ports.archive``): a client's live jobs, filtered and paged.

Each actor is typed with the protocols it uses (an intersection of them where it needs several);
``Store`` is all of them and ``close``, for the composition root and the gateway. Each module
states its guarantees.
"""

from __future__ import annotations

from typing import Protocol

from actors.ports.archive import JobListing
from actors.ports.store.cancels import CancelBroadcast
from actors.ports.store.deadlines import DeadlineStore, Scheduled
from actors.ports.store.groups import GroupStore
from actors.ports.store.holon import HolonTasks
from actors.ports.store.jobs import JobStore
from actors.ports.store.schedules import Fire, ScheduleStore
from actors.ports.store.sts import Issued, StsGrants
from actors.ports.store.tasks import RESERVATION_SCAN_LIMIT, Contender, Lease, LeaseStore, TaskQueue
from actors.ports.store.tenancy import ClientQuotas, RateLimits, WorkerTokens
from actors.ports.store.webhooks import WebhookDelivery, WebhookStore
from actors.ports.store.workers import WorkerRecord, WorkerRegistry

__all__ = [
    "RESERVATION_SCAN_LIMIT",
    "CancelBroadcast",
    "ClientQuotas",
    "Contender",
    "DeadlineStore",
    "Fire",
    "GroupStore",
    "HolonTasks",
    "Issued",
    "JobStore",
    "Lease",
    "LeaseStore",
    "RateLimits",
    "ScheduleStore",
    "Scheduled",
    "Store",
    "StsGrants",
    "TaskQueue",
    "WebhookDelivery",
    "WebhookStore",
    "WorkerRecord",
    "WorkerRegistry",
    "WorkerTokens",
]


class Store(
    JobStore,
    GroupStore,
    DeadlineStore,
    TaskQueue,
    LeaseStore,
    WorkerRegistry,
    CancelBroadcast,
    ScheduleStore,
    HolonTasks,
    RateLimits,
    ClientQuotas,
    WorkerTokens,
    StsGrants,
    WebhookStore,
    JobListing,
    Protocol,
):
    """The whole store: every concern, and closing it."""

    async def close(self) -> None: ...
