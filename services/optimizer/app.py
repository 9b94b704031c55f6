"""The optimizer service: carries changes out on the ad platform within safety limits,
recommends what a person must approve, runs automation rules, undoes changes, and
forecasts campaigns (scoring each forecast once its period has passed).

Replicas share one queue and one table of pending changes, so it scales out: a campaign
has at most one change in flight whichever replica planned it.

Each feature (rules, pools, experiments, forecasts, recommendations, competition,
benchmarks, connections) is a package over ``core``; this module only puts their routes,
handlers and background jobs together.
"""

from collections.abc import Mapping
from pathlib import Path

from services.optimizer.benchmarks import routes as benchmark_routes
from services.optimizer.benchmarks.runner import run_own_history, run_peer_pools, seed_benchmarks
from services.optimizer.competition import routes as competition_routes
from services.optimizer.competition.runner import run_competition
from services.optimizer.connections import routes as connection_routes
from services.optimizer.connections.pull import run_metric_pulls
from services.optimizer.core import routes as core_routes
from services.optimizer.core.handlers import subscriptions
from services.optimizer.core.jobs import run_executor
from services.optimizer.core.platform import connector_lifespan
from services.optimizer.experiments import routes as experiment_routes
from services.optimizer.experiments.runner import run_experiments
from services.optimizer.forecasts import routes as forecast_routes
from services.optimizer.forecasts.runner import run_forecasts
from services.optimizer.forecasts.store import forecast_models
from services.optimizer.pools import routes as pool_routes
from services.optimizer.pools.runner import run_pools
from services.optimizer.recommendations import routes as recommendation_routes
from services.optimizer.rules import routes as rule_routes
from services.optimizer.rules.runner import run_rules
from shared.contracts.spec import Route
from shared.housekeeping import metric_partitions
from shared.service import ServiceRuntime, ServiceSpec
from shared.web import Handler

ROUTES = (
    core_routes.routes,
    recommendation_routes.routes,
    rule_routes.routes,
    pool_routes.routes,
    experiment_routes.routes,
    forecast_routes.routes,
    competition_routes.routes,
    benchmark_routes.routes,
    connection_routes.routes,
)


def all_routes(runtime: ServiceRuntime) -> Mapping[Route, Handler]:
    table: dict[Route, Handler] = {}
    for routes in ROUTES:
        table.update(routes(runtime))
    return table


SPEC = ServiceSpec(
    name="optimizer",
    migrations=Path(__file__).parent / "migrations",
    routes=all_routes,
    subscriptions=subscriptions,
    lifespans=(connector_lifespan, forecast_models, seed_benchmarks),
    background=(
        run_executor,
        run_rules,
        run_experiments,
        run_forecasts,
        run_pools,
        run_own_history,
        run_peer_pools,
        run_competition,
        run_metric_pulls,
    ),
    # It keeps a copy of campaign_metrics (adpilot/registry.py): its partitions, too.
    upkeep=(metric_partitions,),
)
