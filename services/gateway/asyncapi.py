"""The event catalogue as an AsyncAPI 3.0 document, for services that subscribe to ours.

Built from the same contracts the services publish and consume with: every event type and
version, its payload schema, who publishes it, which of our services subscribe, and how
to bind a queue of one's own to it on the topic exchange.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.gateway.openapi import REF_TEMPLATE, ComponentNames, _version
from shared.contracts import EVENTS
from shared.contracts.spec import EventType
from shared.events import Envelope

ASYNCAPI_VERSION = "3.0.0"
DEFAULT_EXCHANGE = "adpilot.events"
DESCRIPTION = (
    "Every event adpilot publishes on its RabbitMQ topic exchange. The routing key is the "
    "event type, e.g. `decision.made`; bind a durable queue of your own to the keys you want "
    "(`decision.*` for every decision event). Each message is an `Envelope`: `type` and "
    "`version` say which payload it carries. Ignore fields you do not know: new fields may "
    "be added to a version; a change that removes or retypes a field is a new version."
)


def _message_name(event: EventType[Any]) -> str:
    return f"{event.name}.v{event.version}"


def build_asyncapi(exchange: str = DEFAULT_EXCHANGE) -> dict[str, Any]:
    models: list[type[BaseModel]] = [Envelope, *dict.fromkeys(e.payload for e in EVENTS)]
    refs, top = models_json_schema(
        [(m, "serialization") for m in models],
        ref_template=REF_TEMPLATE,
        schema_generator=ComponentNames,
    )
    exchange_binding = {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": exchange, "type": "topic", "durable": True, "vhost": "/"},
            "bindingVersion": "0.3.0",
        }
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event in EVENTS:
        name = _message_name(event)
        messages[name] = {
            "name": event.name,
            "title": f"{event.name} (version {event.version})",
            "summary": event.summary,
            "contentType": "application/json",
            "payload": {
                "allOf": [
                    refs[(Envelope, "serialization")],
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event.name},
                            "version": {"const": event.version},
                            "payload": refs[(event.payload, "serialization")],
                        },
                    },
                ]
            },
            "x-publishers": list(event.publishers),
        }
        channel = channels.setdefault(
            event.name,
            {
                "address": event.name,
                "messages": {},
                "bindings": exchange_binding,
            },
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        ref = {"$ref": f"#/channels/{event.name}/messages/{name}"}
        channel_ref = {"$ref": f"#/channels/{event.name}"}
        publish = operations.setdefault(
            f"publish.{event.name}",
            {"action": "send", "channel": channel_ref, "messages": []},
        )
        publish["messages"].append(ref)
        for service in event.subscribers:
            receive = operations.setdefault(
                f"{service}.receives.{event.name}",
                {
                    "action": "receive",
                    "channel": channel_ref,
                    "messages": [],
                    "summary": f"The {service} service consumes it.",
                },
            )
            receive["messages"].append(ref)
    document = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "adpilot events", "version": _version(), "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The platform's broker; your deployment's address may differ.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": top.get("$defs", {}), "messages": messages},
    }
    return copy.deepcopy(document)
