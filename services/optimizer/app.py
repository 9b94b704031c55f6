"""The optimizer service: recommendations, safe execution, budgets, forecasts, experiments.

Stateless between requests and events, so it scales out: replicas share one queue.
"""

from pathlib import Path

from services.optimizer.handlers import subscriptions
from services.optimizer.routes import routes
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="optimizer",
    migrations=Path(__file__).parent / "migrations",
    routes=routes,
    subscriptions=subscriptions,
)
