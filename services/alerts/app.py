"""The alerts service: anomaly alerts, risk and system health."""

from pathlib import Path

from services.alerts.routes import routes
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="alerts",
    migrations=Path(__file__).parent / "migrations",
    routes=routes,
)
