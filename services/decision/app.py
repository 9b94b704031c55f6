"""The decision service: master AI cycles, decisions and learning."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.decision import forecasts, outcomes, policy, views
from services.decision.cycles import forget_periods, run_cycles, run_schedule
from services.decision.learning import run_learning
from services.decision.routes import routes
from shared.housekeeping import metric_partitions
from shared.models_registry import announce_models
from shared.service import ServiceRuntime, ServiceSpec


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
    subscriptions=views.subscriptions.include(outcomes.subscriptions, forecasts.subscriptions),
    background=(run_cycles, run_schedule, forecasts.run_model_accuracy, run_learning),
    lifespans=(register_models,),
    # It keeps a copy of campaign_metrics (adpilot/registry.py): its partitions, too.
    upkeep=(metric_partitions, forget_periods),
)
