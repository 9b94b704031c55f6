"""The optimizer service: carries changes out on the ad platform within safety limits,
recommends what a person must approve, runs automation rules, undoes changes, and
forecasts campaigns (scoring each forecast once its period has passed).

Replicas share one queue and one table of pending changes, so it scales out: a campaign
has at most one change in flight whichever replica planned it.
"""

from collections.abc import Mapping
from pathlib import Path

from services.optimizer import budget_routes
from services.optimizer.executor import run_executor
from services.optimizer.experiment_runner import run_experiments
from services.optimizer.forecasts import forecast_models, run_forecasts
from services.optimizer.handlers import subscriptions
from services.optimizer.platform import connector_lifespan
from services.optimizer.reallocation import run_pools
from services.optimizer.routes import routes
from services.optimizer.rule_runner import run_rules
from shared.contracts.spec import Route
from shared.service import ServiceRuntime, ServiceSpec
from shared.web import Handler


def all_routes(runtime: ServiceRuntime) -> Mapping[Route, Handler]:
    return {**routes(runtime), **budget_routes.routes(runtime)}


SPEC = ServiceSpec(
    name="optimizer",
    migrations=Path(__file__).parent / "migrations",
    routes=all_routes,
    subscriptions=subscriptions,
    lifespans=(connector_lifespan, forecast_models),
    background=(run_executor, run_rules, run_experiments, run_forecasts, run_pools),
)
