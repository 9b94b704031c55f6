"""The decision service: master AI cycles, decisions and learning."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from services.decision import policy, views
from services.decision.cycles import run_cycles
from services.decision.routes import routes
from shared import events
from shared.consumer import Handler
from shared.models_registry import announce_models
from shared.service import ServiceRuntime, ServiceSpec


def handlers(_runtime: ServiceRuntime) -> Mapping[str, Handler]:
    return {
        events.METRICS_RECORDED: views.on_metrics_recorded,
        events.ALERT_RAISED: views.on_alert_raised,
        events.ALERT_UPDATED: views.on_alert_updated,
        events.ALERT_ACKNOWLEDGED: views.on_alert_changed,
        events.ALERT_RESOLVED: views.on_alert_changed,
        events.ALERT_DISMISSED: views.on_alert_changed,
        events.RISK_ASSESSED: views.on_risk_assessed,
        events.MODEL_REGISTERED: views.on_model_registered,
    }


@asynccontextmanager
async def register_models(runtime: ServiceRuntime) -> AsyncIterator[None]:
    params = policy.PolicyParams().as_dict()
    await announce_models(
        runtime, [(policy.MODEL_NAME, policy.MODEL_VERSION, "optimization", params)]
    )
    yield


SPEC = ServiceSpec(
    name="decision",
    migrations=Path(__file__).parent / "migrations",
    routes=routes,
    handlers=handlers,
    background=(run_cycles,),
    lifespans=(register_models,),
)
