"""``python -m bench.broker_cost``: what one mailbox message costs on this machine, apart from avtomat.

A job's mailbox message is durable (ARCHITECTURE.md, "Mailboxes on RabbitMQ", a **must**):
persistent, published with a confirm, consumed with a manual ack. This publishes ``--messages``
such messages through aio-pika, 64 in flight, into a fresh queue of each type and consumes them
in the same process, then reports per message the RabbitMQ server's CPU (``beam.smp``) and this
process's CPU (aio-pika's publish, confirm, delivery and ack). Those two are the floor under any
design that keeps that contract with these libraries; avtomat's own work comes on top.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aio_pika

from bench.servers import Servers, fresh_namespace, rabbitmq_cpu_seconds

IN_FLIGHT = 64


async def cost(url: str, queue_type: str, messages: int, body: bytes) -> tuple[float, float, float]:
    """(messages per second, RabbitMQ CPU ms per message, client CPU ms per message)."""
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=256)
        queue = await channel.declare_queue(fresh_namespace(), durable=True, arguments={"x-queue-type": queue_type})
        received, done = 0, asyncio.Event()

        async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == messages:
                done.set()

        tag = await queue.consume(consume)
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def publish() -> None:
            async with slots:
                message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                await channel.default_exchange.publish(message, routing_key=queue.name)

        server_before, client_before, started = rabbitmq_cpu_seconds(), time.process_time(), time.perf_counter()
        await asyncio.gather(*(publish() for _ in range(messages)))
        await done.wait()
        elapsed, server_after = time.perf_counter() - started, rabbitmq_cpu_seconds()
        client = time.process_time() - client_before
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    server = (server_after or 0.0) - (server_before or 0.0)
    return messages / elapsed, 1000 * server / messages, 1000 * client / messages


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--body-bytes", type=int, default=300, help="about an avtomat envelope")
    parser.add_argument("--queue-types", default="classic,quorum")
    args = parser.parse_args()
    print("queue type | messages/s | RabbitMQ CPU ms/message | client CPU ms/message")
    for queue_type in args.queue_types.split(","):
        rate, server, client = asyncio.run(
            cost(Servers().rabbitmq_url, queue_type, args.messages, b"x" * args.body_bytes)
        )
        print(f"{queue_type} | {rate:.0f} | {server:.3f} | {client:.3f}")


if __name__ == "__main__":
    main()
