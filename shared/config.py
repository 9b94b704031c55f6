"""The one configuration object, read from ``ADPILOT_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("gateway", "decision", "alerts", "optimizer")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADPILOT_", extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/adpilot"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Tests give every run its own exchange; queue names derive from it, so two
    # runs on one broker never steal each other's messages.
    exchange: str = "adpilot.events"

    host: str = "127.0.0.1"
    gateway_port: int = 8080
    decision_port: int = 8081
    alerts_port: int = 8082
    optimizer_port: int = 8083
    # Where the gateway finds each service; empty means http://{host}:{port}.
    decision_url: str = ""
    alerts_url: str = ""
    optimizer_url: str = ""

    default_tenant: UUID = UUID("00000000-0000-0000-0000-000000000001")

    db_pool_min: int = 1
    db_pool_max: int = 10
    prefetch_count: int = 32
    # Deliveries of one message before it is dead-lettered.
    max_deliveries: int = 5
    # The relay also polls this often, in case a NOTIFY was missed while it reconnected.
    outbox_poll_seconds: float = 2.0
    upstream_timeout_seconds: float = 10.0
    status_timeout_seconds: float = 2.0
    log_level: str = "INFO"

    heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Scheduled master cycles; alerts trigger extra cycles in between.
    cycle_interval_seconds: float = Field(default=60.0, gt=0)

    def port_of(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def url_of(self, service: str) -> str:
        configured = getattr(self, f"{service}_url", "")
        return configured or f"http://{self.host}:{self.port_of(service)}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
