"""The alerts service: anomaly alerts, risk and system health."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from services.alerts import anomaly, risk
from services.alerts.health import on_health_reported
from services.alerts.routes import routes
from services.alerts.watch import on_metrics_recorded
from shared import events
from shared.consumer import Handler
from shared.models_registry import announce_models
from shared.service import ServiceRuntime, ServiceSpec


def handlers(_runtime: ServiceRuntime) -> Mapping[str, Handler]:
    return {
        events.METRICS_RECORDED: on_metrics_recorded,
        events.HEALTH_REPORTED: on_health_reported,
    }


@asynccontextmanager
async def register_models(runtime: ServiceRuntime) -> AsyncIterator[None]:
    await announce_models(
        runtime,
        [
            (
                anomaly.MODEL_NAME,
                anomaly.MODEL_VERSION,
                "classification",
                anomaly.DEFAULT_PARAMS.as_dict(),
            ),
            (risk.MODEL_NAME, risk.MODEL_VERSION, "prediction", risk.RiskParams().as_dict()),
        ],
    )
    yield


SPEC = ServiceSpec(
    name="alerts",
    migrations=Path(__file__).parent / "migrations",
    routes=routes,
    handlers=handlers,
    # Detection and auto-resolution read the hours before each new one: apply batches in order.
    ordered=frozenset({events.METRICS_RECORDED}),
    lifespans=(register_models,),
)
