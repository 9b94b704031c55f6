"""The alerts service: anomaly alerts, risk and system health."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.alerts import anomaly, explaining, health, risk, rule_alerts, watch
from services.alerts.routes import routes
from shared.consumer import Subscriptions
from shared.contracts.gateway import METRICS_RECORDED
from shared.housekeeping import metric_partitions
from shared.models_registry import announce_models
from shared.service import ServiceRuntime, ServiceSpec


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
    subscriptions=Subscriptions("alerts").include(
        watch.subscriptions,
        health.subscriptions,
        rule_alerts.subscriptions,
        explaining.subscriptions,
    ),
    # Detection and auto-resolution read the hours before each new one: apply batches in order.
    ordered=frozenset({METRICS_RECORDED.name}),
    lifespans=(register_models,),
    # It keeps a copy of campaign_metrics (adpilot/registry.py): its partitions, too.
    upkeep=(metric_partitions,),
)
