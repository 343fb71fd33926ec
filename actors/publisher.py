"""Apply a message to a versioned document once, and publish what it produced (ADR 0001).

Job state and group state are both such documents: they carry their ``version``, the ids of the
messages ``applied`` to them, and the ``outbox`` of the last one. Immediate effects go to the
broker, deferred ones to the deadline set (a job's own deadlines are not in its outbox: its commit
writes them, ADR 0008).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from actors.ports.broker import Publisher
from actors.ports.store import DeadlineStore, Scheduled
from engine.job import Outgoing, Versioned
from engine.messages import Envelope

D = TypeVar("D", bound=Versioned)


class LocalRoutes:
    """A publisher that hands the messages of some routes straight to an actor in this process.

    For stateless actors whose handling is idempotent, such as the router (a push is idempotent by
    task id): the message costs no publish, confirm, delivery and ack, and the sender's activation
    waits for the handling as it would for the confirm. Delivery guarantees are those of a
    publish: a failure reaches the sender, whose message is retried and whose outbox is handed
    over again (ADR 0001). Other routes go to ``broker``.
    """

    def __init__(self, broker: Publisher, local: dict[str, Callable[[Envelope], Awaitable[None]]]) -> None:
        self._broker, self._local = broker, local

    async def publish(self, route: str, env: Envelope) -> None:
        handler = self._local.get(route)
        await (self._broker.publish(route, env) if handler is None else handler(env))


async def publish_all(broker: Publisher, store: DeadlineStore, effects: Iterable[Outgoing]) -> None:
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
    broker: Publisher,
    store: DeadlineStore,
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
    No compare-and-set checks such a verdict, so ``doc`` must be the stored document: a caller
    stepping on a copy kept in memory judges an ignored message again on a fresh load (as the
    job actor does).
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
