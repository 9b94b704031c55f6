"""An outside service that follows adpilot's decisions.

It owns a durable queue of its own, bound to ``decision.*`` on adpilot's topic exchange,
so it receives every decision event, including those published while it was down. It
needs nothing of adpilot's code: the event catalogue at ``/api/ai/asyncapi.json`` says what
each message holds. It prints one JSON line per event and acks only after it has.

    python examples/decision_subscriber.py --amqp-url amqp://guest:guest@127.0.0.1:5672/

Run as many copies as you like on one queue name and they share the work; give each
subscribing service its own queue name and each gets every event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aio_pika

# Versions of each event this subscriber understands; anything else is left for a newer
# version of it (rejected without requeue, so it shows up in the broker's own metrics).
UNDERSTOOD = {("decision.made", 1), ("decision.validated", 1)}


def summary(envelope: dict[str, Any]) -> dict[str, Any]:
    """What this subscriber cares about. Unknown fields are ignored, as the contract asks."""
    payload = envelope.get("payload", {})
    return {
        "event_id": envelope["event_id"],
        "type": envelope["type"],
        "version": envelope["version"],
        "tenant_id": envelope["tenant_id"],
        "decision_id": payload.get("id"),
        "decision_type": payload.get("decision_type"),
        "campaign_id": payload.get("campaign_id"),
        "confidence_score": payload.get("confidence_score"),
        "action_taken": payload.get("action_taken"),
    }


async def follow(url: str, exchange_name: str, queue_name: str, limit: int | None) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=16)
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(queue_name, durable=True)
        await queue.bind(exchange, routing_key="decision.*")
        print(json.dumps({"ready": queue_name}), flush=True)
        seen = 0
        async with queue.iterator() as messages:
            async for message in messages:
                envelope = json.loads(message.body)
                if (envelope.get("type"), envelope.get("version")) not in UNDERSTOOD:
                    await message.reject(requeue=False)
                    continue
                print(json.dumps(summary(envelope)), flush=True)
                await message.ack()
                seen += 1
                if limit is not None and seen >= limit:
                    return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--exchange", default="adpilot.events")
    parser.add_argument("--queue", default="decision-follower")
    parser.add_argument("--count", type=int, default=None, help="stop after this many events")
    args = parser.parse_args(argv)
    try:
        asyncio.run(follow(args.amqp_url, args.exchange, args.queue, args.count))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
