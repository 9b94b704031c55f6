"""The one configuration object, read from ``ADPILOT_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from uuid import UUID

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.replicas import parse_replicas, replica_ports

# The checkout the code runs from: where `make web` and `make docs` put their builds.
REPOSITORY = Path(__file__).resolve().parents[1]


# The shortest ADPILOT_METRICS_RETENTION_DAYS accepted: beyond the longest window of
# metrics a service reads (an automation rule's 90 days, then some).
METRICS_RETENTION_FLOOR_DAYS = 100

# The services with a port of their own (shared.contracts.SERVICES, which a test holds
# this to; named here so that reading the settings loads no contracts).
SERVICE_NAMES = ("gateway", "decision", "alerts", "optimizer")


class MissingSecret(RuntimeError):
    """A required secret is not configured. The message says how to set it."""


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
    # Processes of each service, e.g. "optimizer=3,gateway=2" (`adpilot up --replicas`
    # passes it to every process); a service not named runs one. Replica i (from 0)
    # listens on its service's port + i * replica_port_step (shared/replicas.py), and the
    # gateway spreads each service's requests over its replicas.
    replicas: str = ""
    replica_port_step: int = Field(default=100, ge=1, le=10_000)
    # Or a service's replicas' addresses outright, comma-separated (other hosts, say).
    decision_urls: str = ""
    alerts_urls: str = ""
    optimizer_urls: str = ""

    # Which ad platform the services talk to (see shared.connectors.CONNECTORS), and
    # where the sandbox ad platform listens; empty sandbox_url means http://{host}:{port}.
    connector: str = "sandbox"
    # A change the platform did not answer is tried again after change_retry_seconds,
    # doubling up to a minute, and given up as failed after change_attempts tries.
    change_attempts: int = Field(default=5, ge=1, le=50)
    change_retry_seconds: float = Field(default=2.0, gt=0, le=60)
    sandbox_port: int = 8090
    sandbox_url: str = ""

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

    # campaign_metrics is partitioned by month (shared/migrations/campaign_metrics/): the
    # hourly housekeeping keeps the current month's partition and this many after it ready,
    metrics_partitions_ahead: int = Field(default=3, ge=1, le=24)
    # and drops the months that ended more than this many days ago, whole. Unset: every
    # month is kept.
    metrics_retention_days: int | None = Field(default=None, ge=METRICS_RETENTION_FLOOR_DAYS)

    heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Scheduled master cycles; alerts trigger extra cycles in between.
    cycle_interval_seconds: float = Field(default=60.0, gt=0)

    # --- security. Secrets come from the environment or from files named by *_FILE,
    # never from code; SecretStr keeps them out of reprs and logs.
    # Password of the services' own database roles, where the server asks for one
    # (local trust authentication needs none).
    service_db_password: SecretStr | None = None
    service_db_password_file: Path | None = None
    internal_secret: SecretStr | None = None
    internal_secret_file: Path | None = None
    internal_token_ttl_seconds: int = Field(default=60, gt=0, le=3600)
    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path | None = None
    jwks_file: Path | None = None
    jwt_audience: str = "adpilot"
    # How long the gateway trusts an API key it has found good without looking it up again;
    # a key revoked elsewhere (another gateway, `adpilot keys revoke`) stops working
    # within this time. 0: every request is looked up.
    key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    rate_limit_per_minute: int = Field(default=1200, gt=0)
    rate_limit_burst: int = Field(default=200, gt=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    statement_timeout_ms: int = Field(default=10_000, gt=0)
    # Comma-separated origins allowed to call the API from a browser; empty: none.
    cors_origins: str = ""

    # What the gateway serves besides the API: the dashboard's build (index.html and hashed
    # assets/, from `make web`) at `/`, and Swagger UI's files for the API reference at
    # `/docs` (from `make docs`). Either may be missing; its page then says how to build it.
    dashboard_dir: Path = REPOSITORY / "web" / "dist"
    docs_dir: Path = REPOSITORY / "services" / "gateway" / "docs" / "swagger-ui"

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Settings:
        for name in ("internal_secret", "jwt_secret", "service_db_password"):
            path = getattr(self, f"{name}_file")
            if getattr(self, name) is None and path is not None:
                try:
                    value = Path(path).read_text().strip()
                except OSError as exc:
                    raise ValueError(f"cannot read ADPILOT_{name.upper()}_FILE: {exc}") from exc
                setattr(self, name, SecretStr(value))
        return self

    @field_validator("replicas")
    @classmethod
    def _known_replicas(cls, value: str) -> str:
        parse_replicas(value, SERVICE_NAMES)  # a ValueError names what is wrong
        return value

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.cors_origins.split(",") if o.strip())

    @property
    def metrics_retention(self) -> timedelta | None:
        if self.metrics_retention_days is None:
            return None
        return timedelta(days=self.metrics_retention_days)

    @property
    def service_password(self) -> str | None:
        return self.service_db_password.get_secret_value() if self.service_db_password else None

    def require_internal_secret(self) -> bytes:
        secret = self.internal_secret.get_secret_value() if self.internal_secret else ""
        if len(secret) < 32:
            raise MissingSecret(
                "ADPILOT_INTERNAL_SECRET (or ADPILOT_INTERNAL_SECRET_FILE) must hold a random "
                "string of at least 32 characters shared by all services, e.g. "
                '`export ADPILOT_INTERNAL_SECRET="$(openssl rand -hex 32)"`'
            )
        return secret.encode()

    def port_of(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def url_of(self, service: str) -> str:
        configured = getattr(self, f"{service}_url", "")
        return configured or f"http://{self.host}:{self.port_of(service)}"

    @property
    def replica_counts(self) -> dict[str, int]:
        """How many processes of each service run: one unless ``replicas`` says more."""
        return {name: 1 for name in SERVICE_NAMES} | parse_replicas(self.replicas, SERVICE_NAMES)

    def replica_ports(self, service: str) -> list[int]:
        """Where each replica of ``service`` listens, the first on its port."""
        count = self.replica_counts[service]
        return replica_ports(self.port_of(service), count, self.replica_port_step)

    def urls_of(self, service: str) -> list[str]:
        """Where the gateway finds ``service``'s replicas: ``{service}_urls`` if set, else
        one on each of :meth:`replica_ports`, else :meth:`url_of`."""
        listed = getattr(self, f"{service}_urls", "")
        if listed:
            return [url.strip().rstrip("/") for url in listed.split(",") if url.strip()]
        if self.replica_counts[service] == 1:
            return [self.url_of(service)]
        return [f"http://{self.host}:{port}" for port in self.replica_ports(service)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
