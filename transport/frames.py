"""Frames: many envelopes in one AMQP message (group commit on the mailbox, ADR 0013).

RabbitMQ's cost is per AMQP message, not per envelope, so the RabbitMQ broker sends the
envelopes that queue up for one shard queue together:

- **Lane.** One per destination queue (route + shard). When nothing is in flight on it, an
  envelope leaves at once; while a publish awaits its confirm, newer envelopes accumulate and
  leave together as soon as it returns. No timer: an idle system adds no latency.
- **Format.** One envelope goes out as today (``ENVELOPE_CONTENT_TYPE``, the envelope's msgpack
  bytes), so a consumer that predates frames reads it; two or more go as a frame
  (``FRAME_CONTENT_TYPE``): a msgpack array whose items are the encoded envelopes, in publish order.
- **Caps.** A frame holds at most ``MAX_FRAME_ENVELOPES`` envelopes and ``MAX_FRAME_BYTES`` of
  envelope bytes (a larger envelope travels alone).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from engine.errors import MessageDecodeError

log = logging.getLogger(__name__)

ENVELOPE_CONTENT_TYPE = "application/msgpack"
FRAME_CONTENT_TYPE = "application/vnd.avtomat.frame+msgpack"
# Past ~32 envelopes per message the broker's share of the cost is already small (issue 11's
# table); 64 keeps a frame's envelopes well under a consumer's usual prefetch.
MAX_FRAME_ENVELOPES = 64
MAX_FRAME_BYTES = 256 * 1024

_frame_encoder = msgspec.msgpack.Encoder()
_frame_decoder = msgspec.msgpack.Decoder(list[msgspec.Raw])


def encode_frame(bodies: Sequence[bytes]) -> bytes:
    """A frame of already encoded envelopes (each stays byte-for-byte what ``encode`` made)."""
    return _frame_encoder.encode([msgspec.Raw(body) for body in bodies])


def split_frame(raw: bytes) -> list[bytes]:
    """The encoded envelopes of a frame, in order; ``MessageDecodeError`` if it is no frame.
    Each item is decoded on its own, so one bad envelope does not spoil its neighbours."""
    try:
        return [bytes(item) for item in _frame_decoder.decode(raw)]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MessageDecodeError(raw, f"undecodable frame: {exc}") from exc


@dataclass(slots=True)
class Pending:
    """An envelope waiting in a lane; its sender awaits ``future`` (cancelled if it gave up)."""

    body: bytes
    id: str
    future: asyncio.Future[None]


class Lane:
    """The envelopes bound for one shard queue, in publish order, not yet handed to RabbitMQ.

    ``busy`` while a task drains it; the broker starts one when an envelope arrives on an idle lane.
    """

    __slots__ = ("busy", "pending", "routing_key")

    def __init__(self, routing_key: str) -> None:
        self.routing_key = routing_key
        self.pending: deque[Pending] = deque()
        self.busy = False

    def take(self) -> list[Pending]:
        """The next frame's envelopes: the oldest ones still awaited, within the caps."""
        batch: list[Pending] = []
        size = 0
        while self.pending and len(batch) < MAX_FRAME_ENVELOPES:
            item = self.pending[0]
            if item.future.done():  # its sender gave up (cancelled, timed out): not sent
                self.pending.popleft()
                continue
            if batch and size + len(item.body) > MAX_FRAME_BYTES:
                break
            batch.append(self.pending.popleft())
            size += len(item.body)
        return batch


def resolve(batch: Sequence[Pending], error: BaseException | None) -> None:
    """Tell every sender of ``batch`` still waiting how its frame's publish went."""
    for item in batch:
        if not item.future.done():
            if error is None:
                item.future.set_result(None)
            else:
                item.future.set_exception(error)


@dataclass(slots=True)
class FrameCounts:
    """Envelopes and AMQP messages (frames, a lone envelope counting as a frame of one)."""

    envelopes_published: int = 0
    frames_published: int = 0
    envelopes_consumed: int = 0
    frames_consumed: int = 0

    def summary(self) -> str:
        def mean(envelopes: int, frames: int) -> str:
            return f"{envelopes / frames:.2f}" if frames else "-"

        return (
            f"published {self.envelopes_published} envelopes in {self.frames_published} frames, "
            f"mean {mean(self.envelopes_published, self.frames_published)} per frame; "
            f"consumed {self.envelopes_consumed} envelopes in {self.frames_consumed} frames, "
            f"mean {mean(self.envelopes_consumed, self.frames_consumed)} per frame"
        )
