"""The decision service: master AI cycles, decisions and learning."""

from pathlib import Path

from services.decision.routes import routes
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="decision",
    migrations=Path(__file__).parent / "migrations",
    routes=routes,
)
