"""Apply a message to a versioned document once, and publish what it produced (ADR 0001).

Job state and group state are both such documents: they carry their ``version``, the ids of the
messages ``applied`` to them, and the ``outbox`` of the last one. Immediate effects go to the
broker, deferred ones to the deadline set (a job's own deadlines are not in its outbox: its commit
writes them, ADR 0008).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from engine.job import Outgoing, Versioned
from engine.messages import Envelope
from transport.broker import Broker
from transport.store import Scheduled, Store

D = TypeVar("D", bound=Versioned)


async def publish_all(broker: Broker, store: Store, effects: Iterable[Outgoing]) -> None:
    """Idempotent: envelope ids are fixed, so publishing the same effects twice is harmless
    (receivers de-duplicate by id; the deadline set is keyed by id)."""
    for effect in effects:
        if effect.at is None:
            await broker.publish(effect.route, effect.envelope)
        else:
            await store.schedule(Scheduled(effect.route, effect.envelope, effect.at))


async def apply_once(
    doc: D,
    env: Envelope,
    step: Callable[[], Awaitable[list[Outgoing] | None]],
    commit: Callable[[D, int], Awaitable[None]],
    broker: Broker,
    store: Store,
) -> None:
    """Run ``step`` (which mutates ``doc`` and records ``env.id`` in ``doc.applied``), commit the
    document with its outbox by compare-and-set, then publish the outbox.

    A redelivered ``env`` (already applied) changes nothing; if it was the last one applied, its
    outbox is published again, since the node may have died between the commit and the publish.
    A lost compare-and-set raises ``VersionConflict`` and the runtime re-applies on fresh state.

    A step that returns None changed nothing (its rules ignore ``env``: stale, or the document is
    over) and left ``doc`` untouched: nothing is committed or published, and ``env.id`` is not
    remembered. That is safe because those rules decide by the message's content, and what they
    ignore stays ignored, so a redelivery of ``env`` changes nothing either; and ``outbox_of``
    still names the last message that changed something, whose redelivery still publishes it.
    """
    if env.id in doc.applied:
        if doc.outbox_of == env.id:
            await publish_all(broker, store, doc.outbox)
        return
    expected = doc.version
    effects = await step()
    if effects is None:
        return
    doc.outbox_of, doc.outbox = env.id, effects
    await commit(doc, expected)
    await publish_all(broker, store, effects)
