"""Announcing the models a service runs, so the decision service can register them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.contracts.platform import MODEL_REGISTERED
from shared.outbox import enqueue
from shared.service import ServiceRuntime

ModelSpec = tuple[str, str, str, dict[str, Any]]  # name, version, type, parameters


async def announce_models(runtime: ServiceRuntime, models: Sequence[ModelSpec]) -> None:
    """Emit ``model.registered`` for each model; the registry upserts, so repeats are harmless."""
    async with runtime.tenant_tx(runtime.settings.default_tenant) as conn:
        for name, version, model_type, parameters in models:
            await enqueue(
                conn,
                MODEL_REGISTERED.envelope(
                    {
                        "model_name": name,
                        "version": version,
                        "model_type": model_type,
                        "parameters": parameters,
                        "service": runtime.name,
                    },
                    tenant_id=runtime.settings.default_tenant,
                    source=runtime.name,
                ),
            )
