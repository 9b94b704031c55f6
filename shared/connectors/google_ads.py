"""The connector to Google Ads, on Google's ``google-ads`` SDK (gRPC, its asyncio clients).

One connector serves one Google Ads customer (the tenant's ad account). What it maps:

- **Campaign ids.** Google's int64 campaign id becomes ``uuid5(NAMESPACE_URL,
  "google_ads:<customer id>:<campaign id>")`` (:func:`campaign_uuid`): stable across
  processes, and mapped back from the campaigns the connector has read.
- **Settings.** ``daily_budget`` is the campaign budget's ``amount_micros``; ``status``
  is ``ENABLED`` (active) or ``PAUSED``; ``bid_multiplier`` scales the ad groups'
  ``cpc_bid_micros`` (see :class:`BidBaselines`); ``audience_factor`` is always 1.0 (not
  a Google Ads setting), and audience, creative and experiment requests are refused with
  ``unsupported_change``.
- **Money.** Amounts are sent in micros rounded to the account currency's minimum unit
  (a cent for USD, a whole yen for JPY), as absolute values, never increments; a change
  that leaves every value as it is sends nothing. A daily budget under the minimum
  (``min_daily_budget``, 1.00 by default) or on a budget shared by several campaigns is
  refused before anything is sent.
- **Hours.** Google reports hours of the account's day in its time zone
  (``segments.date``, ``segments.hour``); rows become UTC hours. On the night clocks go
  back Google reports the repeated hour once, and it becomes the first of the two UTC
  hours. A row's ``budget`` is the budget as it stands now (Google keeps no hourly
  history of it).

**Failures.** ``CONCURRENT_MODIFICATION``, quota errors (waiting at least the
``retry_delay`` Google sends, and holding back every call to the account meanwhile),
unavailable, deadline and internal errors are retried; an expired access token is
refreshed once. Throttling that outlasts the connector's attempts, or a ``retry_delay``
longer than ``max_retry_delay``, is the shared :class:`RateLimited` with the wait Google
asked for. Credentials Google refuses (a revoked grant, a wrong developer token, a user
without access) are :class:`GoogleAdsAuthFailed`, the shared :class:`AuthFailed`, with
``code`` ``authentication_failed`` or ``permission_denied``. Any other refusal of a
change is :class:`ChangeRefused` with a code (``budget_below_minimum``,
``unknown_campaign``, or the Google error's own name in lower case); any other refused
read is :class:`PlatformUnavailable`, an unknown customer :class:`UnknownAccount`.
**Every attempt of a change starts by reading the campaign**: after an ambiguous failure
(a deadline passed or the connection dropped after sending) the next attempt sees
whether the change holds and, if so, sends nothing again. A change id answered once is
answered again from memory (``replayed``); after a restart the read does the same work,
since values are absolute.

:meth:`GoogleAdsConnector.preview_change` has Google validate a change without making it
(``validate_only``); :meth:`GoogleAdsConnector.apply_changes` sends several at once with
``partial_failure`` and answers each. Every request is reported to the recorder with
Google's ``request_id`` in the record's ``response``; receipts
(:class:`GoogleAdsReceipt`, in ``request_id`` for the optimization record) and refusals
(:class:`GoogleAdsRefused`) carry it too.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import statistics
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

import grpc
from google.ads.googleads.client import GoogleAdsClient
from google.ads.googleads.errors import GoogleAdsException
from google.api_core import exceptions as core_exceptions
from google.oauth2.credentials import Credentials
from google.protobuf import field_mask_pb2

from shared.connectors.base import (
    AccountSnapshot,
    AuthFailed,
    CallRecorder,
    CampaignState,
    Change,
    ChangeReceipt,
    ChangeRefused,
    ExperimentArm,
    PlatformExperiment,
    PlatformUnavailable,
    RateLimited,
    UnknownAccount,
    record_call,
)
from shared.metrics import HourlyMetrics
from shared.retry import Backoff

log = logging.getLogger("connector.google_ads")
# The SDK's transports log each request at DEBUG with its metadata as the record's extras:
# the developer token and the OAuth access token. Keep them out of our logs unless an
# operator sets the SDK's loggers' level on purpose.
_SDK_LOG = logging.getLogger("google.ads.googleads")
if _SDK_LOG.level == logging.NOTSET:
    _SDK_LOG.setLevel(logging.WARNING)

API_VERSION = "v26"
FAILURE_KEY = f"google.ads.googleads.{API_VERSION}.errors.googleadsfailure-bin"
GOOGLE_TOKEN_URI = "https://accounts.google.com/o/oauth2/token"
MICROS = 1_000_000
QUICK = Backoff(first=0.2, cap=5.0)
# ISO 4217 minor units where they are not 2 (the currencies Google Ads bills in).
_MINOR_UNITS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}
_REQUEST_IDS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "google_ads_request_ids", default=None
)
# The tenant whose call is in progress (the records of nested reads name it).
_ACCOUNT: contextvars.ContextVar[UUID | None] = contextvars.ContextVar(
    "google_ads_account", default=None
)
_RETRYABLE_STATUS = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNKNOWN,
}
_RETRYABLE_CODES = {
    "concurrent_modification",
    "resource_exhausted",
    "resource_temporarily_exhausted",
    "excessive_short_term_query_resource_consumption",
    "internal_error",
    "transient_error",
    "deadline_exceeded",
}
_AUTH_CODES = {
    "oauth_token_invalid",
    "oauth_token_expired",
    "oauth_token_disabled",
    "oauth_token_revoked",
    "oauth_token_header_invalid",
    "developer_token_invalid",
    "authentication_error",
    "google_account_authentication_failed",
    "not_ads_user",
}
_QUOTA_CODES = {
    "resource_exhausted",
    "resource_temporarily_exhausted",
    "excessive_short_term_query_resource_consumption",
}
# Bidding strategies under which the ad groups' own CPC bids are what Google bids.
_CPC_STRATEGIES = {"manual_cpc", "enhanced_cpc"}
_ACCOUNT_CODES = {"customer_not_found", "client_customer_id_invalid"}
_BUDGET_MINIMUM_CODES = {
    "budget_below_per_day_minimum",
    "money_amount_less_than_currency_minimum_cpc",
}
CAMPAIGNS_QUERY = (
    "SELECT campaign.id, campaign.name, campaign.status, campaign.campaign_budget, "
    "campaign.bidding_strategy_type, "
    "campaign_budget.resource_name, campaign_budget.amount_micros, "
    "campaign_budget.explicitly_shared FROM campaign WHERE campaign.status != 'REMOVED'"
)
AD_GROUPS_QUERY = (
    "SELECT campaign.id, ad_group.id, ad_group.resource_name, ad_group.status, "
    "ad_group.cpc_bid_micros FROM ad_group "
    "WHERE ad_group.status != 'REMOVED' AND campaign.status != 'REMOVED'"
)
CUSTOMER_QUERY = "SELECT customer.id, customer.time_zone, customer.currency_code FROM customer"
HOURLY_QUERY = (
    "SELECT campaign.id, campaign_budget.amount_micros, segments.date, segments.hour, "
    "metrics.cost_micros, metrics.clicks, metrics.impressions, metrics.conversions, "
    "metrics.conversions_value FROM campaign "
    "WHERE segments.date BETWEEN '{first}' AND '{last}'"
)


def campaign_uuid(customer_id: str, campaign_id: int) -> UUID:
    """adpilot's id of a Google Ads campaign: the same in every process, forever."""
    return uuid5(NAMESPACE_URL, f"google_ads:{customer_id}:{campaign_id}")


@dataclass(frozen=True)
class GoogleAdsCredentials:
    """What Google needs to let adpilot act on an account.

    ``developer_token`` comes from the API Center of a Google Ads manager account;
    ``client_id``/``client_secret`` are an OAuth client of a Google Cloud project;
    ``refresh_token`` is that client's offline grant for a user with access to the account;
    ``login_customer_id`` is the manager account's id when access goes through one."""

    developer_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    login_customer_id: str | None = None

    def __repr__(self) -> str:  # never print secrets into logs
        return f"GoogleAdsCredentials(login_customer_id={self.login_customer_id!r}, ...)"


class BidBaselines:
    """The ad group bids that ``bid_multiplier`` 1.0 stands for.

    An ad group's baseline is its ``cpc_bid_micros`` when the connector first saw it,
    divided by the campaign's multiplier at that time (so an ad group added later joins at
    the campaign's multiplier). A campaign's multiplier is the median over its ad groups of
    bid / baseline; setting multiplier ``m`` sets every ad group's bid to baseline x ``m``,
    rounded to the currency's unit. ``store`` keeps the baselines (ad group id to micros):
    hand in a persistent mapping to keep multipliers across restarts; with the default
    in-memory one a new process takes the bids it finds as 1.0.
    """

    def __init__(self, store: MutableMapping[int, int] | None = None) -> None:
        self.store: MutableMapping[int, int] = store if store is not None else {}

    def multiplier(self, groups: Sequence[_AdGroup]) -> float:
        ratios = [
            g.bid_micros / self.store[g.id]
            for g in groups
            if g.bid_micros > 0 and self.store.get(g.id, 0) > 0
        ]
        return round(statistics.median(ratios), 6) if ratios else 1.0

    def learn(self, groups: Sequence[_AdGroup]) -> None:
        current = self.multiplier(groups)
        for g in groups:
            if g.id not in self.store and g.bid_micros > 0:
                self.store[g.id] = round(g.bid_micros / current)


@dataclass
class _AdGroup:
    id: int
    resource_name: str
    bid_micros: int


@dataclass
class _Campaign:
    id: int
    uuid: UUID
    name: str
    status: str  # active / paused
    resource_name: str
    budget_resource: str
    budget_micros: int
    shared_budget: bool
    manual_cpc: bool = True
    groups: list[_AdGroup] = field(default_factory=list)


@dataclass
class _Op:
    """One mutate operation of one change."""

    service: str  # CampaignBudgetService / CampaignService / AdGroupService
    resource_name: str
    field: str
    value: Any


class _Retry(Exception):
    """An attempt that may succeed later; ``delay`` is the least wait Google asked for,
    ``quota`` whether Google throttled the call."""

    def __init__(
        self, message: str, *, delay: float = 0.0, ambiguous: bool = False, quota: bool = False
    ) -> None:
        super().__init__(message)
        self.delay = delay
        self.ambiguous = ambiguous
        self.quota = quota


class _Refusal(Exception):
    """Google refused the whole request: ``code`` and its message."""

    def __init__(self, code: str, message: str, request_id: str | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class GoogleAdsReceipt(ChangeReceipt):
    """A receipt with the ids of the Google requests that made the change (none when the
    change already held), for the optimization record."""

    request_ids: tuple[str, ...] = ()


class GoogleAdsRefused(ChangeRefused):
    """A refusal with the id of the Google request that was refused (``None`` when
    adpilot refused before sending)."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(code, message)
        self.request_id = request_id or None


class GoogleAdsAuthFailed(AuthFailed):
    """A call Google refused for the credentials; ``code`` says which way
    (``authentication_failed``, ``permission_denied``), ``request_id`` names the refused
    request (``None`` when no request got that far, e.g. the OAuth grant was revoked)."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.request_id = request_id or None


class _RequestIdInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Keeps the ``request-id`` Google answers a mutate with, for the call's record."""

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        call = await continuation(client_call_details, request)
        sink = _REQUEST_IDS.get()
        if sink is not None:
            try:
                metadata = await call.initial_metadata()
            except (grpc.RpcError, asyncio.CancelledError):
                metadata = None
            for key, value in metadata or ():
                if key == "request-id":
                    sink.append(str(value))
        return call


def _minor_unit_micros(currency: str) -> int:
    return 10 ** (6 - _MINOR_UNITS.get(currency.upper(), 2))


def _enum_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name if name is not None else value).lower()


def _failure_errors(failure: Any) -> list[tuple[str, str, int | None, float]]:
    """(code, message, operation index, retry delay) for each error of a GoogleAdsFailure."""
    found = []
    for error in failure.errors:
        which = type(error.error_code).pb(error.error_code).WhichOneof("error_code")
        code = _enum_name(getattr(error.error_code, which)) if which else "unknown"
        index = None
        for element in error.location.field_path_elements:
            if element.field_name == "operations" and "index" in element:
                index = int(element.index)
                break
        delay = 0.0
        details = error.details
        if "quota_error_details" in details and "retry_delay" in details.quota_error_details:
            retry_delay = details.quota_error_details.retry_delay
            delay = retry_delay.total_seconds() if hasattr(retry_delay, "total_seconds") else 0.0
        found.append((code, str(error.message), index, delay))
    return found


def _parse_failure(exc: BaseException, version: str) -> tuple[Any, grpc.StatusCode | None, str]:
    """The GoogleAdsFailure, gRPC status and request id of a failed call, where present."""
    from importlib import import_module

    failure_type = import_module(f"google.ads.googleads.{version}.errors.types.errors")
    if isinstance(exc, GoogleAdsException):
        return exc.failure, exc.error.code(), exc.request_id or ""
    rpc: Any = exc
    if isinstance(exc, core_exceptions.GoogleAPICallError):
        rpc = exc.response if exc.response is not None else exc.__cause__
    status = rpc.code() if isinstance(rpc, grpc.RpcError) and hasattr(rpc, "code") else None
    if status is None and isinstance(exc, core_exceptions.GoogleAPICallError):
        status = exc.grpc_status_code
    failure = None
    request_id = ""
    metadata = rpc.trailing_metadata() if hasattr(rpc, "trailing_metadata") else None
    for key, value in metadata or ():
        if key == f"google.ads.googleads.{version}.errors.googleadsfailure-bin":
            failure = failure_type.GoogleAdsFailure.deserialize(value)
        elif key == "request-id":
            request_id = str(value)
    return failure, status, request_id


class GoogleAdsConnector:
    """:class:`~shared.connectors.base.AdPlatformConnector` for one Google Ads customer."""

    name = "google_ads"

    def __init__(
        self,
        credentials: GoogleAdsCredentials,
        customer_id: str,
        *,
        time_zone: str,
        currency: str,
        account: UUID | None = None,
        endpoint: str | None = None,
        token_uri: str = GOOGLE_TOKEN_URI,
        recorder: CallRecorder | None = None,
        timeout_seconds: float = 30.0,
        attempts: int = 4,
        backoff: Backoff = QUICK,
        max_retry_delay: float = 60.0,
        min_daily_budget: float = 1.0,
        bid_baselines: MutableMapping[int, int] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if attempts < 1 or timeout_seconds <= 0:
            raise ValueError("need at least one attempt and a positive timeout")
        self.customer_id = customer_id.replace("-", "")
        if not self.customer_id.isdigit():
            raise ValueError(f"a Google Ads customer id is ten digits, got {customer_id!r}")
        self.account = account
        self.zone = ZoneInfo(time_zone)
        self.currency = currency.upper()
        self.unit_micros = _minor_unit_micros(self.currency)
        self.min_budget_micros = self._to_micros(min_daily_budget)
        self.endpoint = endpoint
        self.recorder = recorder
        self.timeout = timeout_seconds
        self.attempts = attempts
        self.backoff = backoff
        self.max_retry_delay = max_retry_delay
        self.baselines = BidBaselines(bid_baselines)
        self.clock = clock
        self.sleep = sleep
        self._secrets = credentials
        self._oauth = Credentials(
            None,
            refresh_token=credentials.refresh_token,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            token_uri=token_uri,
        )
        self._services: dict[str, Any] = {}
        self._receipts: OrderedDict[UUID, ChangeReceipt] = OrderedDict()
        self._ids: dict[UUID, int] = {}
        self._resume_at = 0.0  # monotonic time before which the account is left alone

    # --- the SDK -------------------------------------------------------------------

    def _service(self, name: str) -> Any:
        # Made on first use, inside the event loop that uses them (gRPC aio channels
        # belong to one loop).
        if name not in self._services:
            client = GoogleAdsClient(
                self._oauth,
                developer_token=self._secrets.developer_token,
                endpoint=self.endpoint,
                login_customer_id=self._secrets.login_customer_id,
                use_proto_plus=True,
                version=API_VERSION,
            )
            self._services[name] = client.get_service(
                name, interceptors=[_RequestIdInterceptor()], is_async=True
            )
        return self._services[name]

    def _type(self, module: str, name: str) -> Any:
        from importlib import import_module

        return getattr(
            import_module(f"google.ads.googleads.{API_VERSION}.services.types.{module}"), name
        )

    async def close(self) -> None:
        services, self._services = self._services, {}
        for service in services.values():
            closing = service.transport.close()
            if asyncio.iscoroutine(closing):
                await closing

    # --- the interface -------------------------------------------------------------

    def _check_account(self, account: UUID) -> None:
        if self.account is not None and account != self.account:
            raise UnknownAccount(account)

    async def list_campaigns(self, account: UUID) -> AccountSnapshot:
        self._check_account(account)
        campaigns = await self._reading(account, "list_campaigns", self._read_campaigns)
        return AccountSnapshot(
            as_of=self._hour_now(),
            campaigns=tuple(self._state(c) for c in campaigns.values()),
        )

    async def hourly_report(
        self, account: UUID, start: datetime, end: datetime
    ) -> list[HourlyMetrics]:
        self._check_account(account)
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return []
        first = start.astimezone(self.zone).date()
        last = (end - timedelta(microseconds=1)).astimezone(self.zone).date()
        query = HOURLY_QUERY.format(first=first.isoformat(), last=last.isoformat())

        async def read(operation: str) -> list[Any]:
            return await self._search(account, operation, query)

        rows = await self._reading(account, "hourly_report", read)
        finished_before = self._hour_now()
        found: dict[tuple[UUID, datetime], list[float]] = {}
        for row in rows:
            local = datetime.combine(
                date.fromisoformat(row.segments.date), datetime.min.time(), self.zone
            ).replace(hour=int(row.segments.hour))
            hour = local.astimezone(UTC)
            if not start <= hour < end or hour >= finished_before:
                continue
            key = (campaign_uuid(self.customer_id, int(row.campaign.id)), hour)
            self._ids[key[0]] = int(row.campaign.id)
            figures = found.setdefault(key, [0, 0, 0.0, 0, 0.0, 0.0])
            figures[0] += int(row.metrics.impressions)
            figures[1] += int(row.metrics.clicks)
            figures[2] += float(row.metrics.conversions)
            figures[3] += int(row.metrics.cost_micros)
            figures[4] += float(row.metrics.conversions_value)
            figures[5] = int(row.campaign_budget.amount_micros)
        return [
            HourlyMetrics(
                campaign_id=campaign_id,
                hour=hour,
                impressions=int(f[0]),
                clicks=int(f[1]),
                conversions=round(f[2]),
                spend=f[3] / MICROS,
                revenue=float(f[4]),
                budget=f[5] / MICROS,
            )
            for (campaign_id, hour), f in sorted(
                found.items(), key=lambda kv: (kv[0][1], str(kv[0][0]))
            )
        ]

    async def apply_change(
        self, account: UUID, campaign_id: UUID, change: Change, change_id: UUID
    ) -> ChangeReceipt:
        (outcome,) = await self.apply_changes(account, [(campaign_id, change, change_id)])
        if isinstance(outcome, ChangeRefused):
            raise outcome
        return outcome

    async def preview_change(
        self, account: UUID, campaign_id: UUID, change: Change
    ) -> CampaignState:
        """The campaign as it would be after ``change``, which Google checks
        (``validate_only``) without making; raises :class:`ChangeRefused` as
        :meth:`apply_change` would."""
        self._check_account(account)
        outcome = (await self._changes(account, [(campaign_id, change, None)], validate=True))[0]
        if isinstance(outcome, ChangeRefused):
            raise outcome
        return outcome.campaign

    async def apply_changes(
        self, account: UUID, changes: Sequence[tuple[UUID, Change, UUID]]
    ) -> list[ChangeReceipt | ChangeRefused]:
        """Several changes in as few requests as can carry them (``partial_failure``):
        each answered by its receipt, or by the refusal of its own operations."""
        self._check_account(account)
        return await self._changes(account, list(changes), validate=False)

    async def account_settings(self, account: UUID) -> tuple[str, str]:
        """The customer's time zone and currency as Google holds them, to check (or fill
        in) what the connector was configured with."""
        self._check_account(account)

        async def read(operation: str) -> list[Any]:
            return await self._search(account, operation, CUSTOMER_QUERY)

        rows = await self._reading(account, "account_settings", read)
        if not rows:
            raise UnknownAccount(account)
        return str(rows[0].customer.time_zone), str(rows[0].customer.currency_code)

    def google_campaign_id(self, campaign_id: UUID) -> int | None:
        """Google's id of a campaign the connector has read (``None`` for any other)."""
        return self._ids.get(campaign_id)

    async def start_experiment(
        self,
        account: UUID,
        campaign_id: UUID,
        experiment_id: UUID,
        arms: Sequence[ExperimentArm],
    ) -> PlatformExperiment:
        self._check_account(account)
        raise ChangeRefused(
            "unsupported_change", "experiments are not run through the Google Ads connector"
        )

    async def experiment_results(
        self, account: UUID, campaign_id: UUID, experiment_id: UUID
    ) -> PlatformExperiment:
        self._check_account(account)
        raise ChangeRefused("unknown_experiment", f"no experiment {experiment_id} here")

    # --- reading -------------------------------------------------------------------

    def _hour_now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    def _state(self, c: _Campaign) -> CampaignState:
        return CampaignState(
            campaign_id=c.uuid,
            name=c.name,
            status=c.status,  # type: ignore[arg-type]
            daily_budget=c.budget_micros / MICROS,
            bid_multiplier=self.baselines.multiplier(c.groups),
            audience_factor=1.0,
        )

    async def _read_campaigns(self, operation: str) -> dict[int, _Campaign]:
        rows = await self._search(self.account_for_records, operation, CAMPAIGNS_QUERY)
        campaigns: dict[int, _Campaign] = {}
        for row in rows:
            campaign_id = int(row.campaign.id)
            uuid = campaign_uuid(self.customer_id, campaign_id)
            self._ids[uuid] = campaign_id
            campaigns[campaign_id] = _Campaign(
                id=campaign_id,
                uuid=uuid,
                name=str(row.campaign.name),
                status="active" if _enum_name(row.campaign.status) == "enabled" else "paused",
                resource_name=str(row.campaign.resource_name),
                budget_resource=str(row.campaign.campaign_budget),
                budget_micros=int(row.campaign_budget.amount_micros),
                shared_budget=bool(row.campaign_budget.explicitly_shared),
                manual_cpc=_enum_name(row.campaign.bidding_strategy_type) in _CPC_STRATEGIES,
            )
        for row in await self._search(self.account_for_records, operation, AD_GROUPS_QUERY):
            campaign = campaigns.get(int(row.campaign.id))
            if campaign is not None:
                campaign.groups.append(
                    _AdGroup(
                        int(row.ad_group.id),
                        str(row.ad_group.resource_name),
                        int(row.ad_group.cpc_bid_micros),
                    )
                )
        for campaign in campaigns.values():
            self.baselines.learn(campaign.groups)
        return campaigns

    @property
    def account_for_records(self) -> UUID:
        """The tenant of the read or change in progress, for call records."""
        return _ACCOUNT.get() or self.account or UUID(int=0)

    async def _search(self, account: UUID, operation: str, query: str) -> list[Any]:
        request = {"customer_id": self.customer_id, "query": query}

        async def send() -> tuple[list[Any], str]:
            stream = await self._service("GoogleAdsService").search_stream(
                request=request, retry=None, timeout=self.timeout
            )
            rows: list[Any] = []
            request_id = ""
            async for batch in stream:
                rows.extend(batch.results)
                request_id = batch.request_id or request_id
            return rows, request_id

        rows, _request_id = await self._rpc(
            account, operation, {"query": query}, send, lambda r: (len(r), None)
        )
        return list(rows)

    async def _reading(
        self, account: UUID, operation: str, read: Callable[[str], Awaitable[Any]]
    ) -> Any:
        """A read, retried; Google's refusals become :class:`UnknownAccount`,
        :class:`GoogleAdsAuthFailed` or :class:`PlatformUnavailable`."""
        token = _ACCOUNT.set(account)
        try:
            last: _Retry | None = None
            refreshed = False
            for attempt in range(1, self.attempts + 1):
                await self._wait_turn()
                try:
                    return await read(operation)
                except _Retry as exc:
                    last = exc
                    await self._back_off(exc, attempt)
                except _Refusal as exc:
                    if exc.code == "oauth_token_expired" and not refreshed:
                        refreshed = True
                        self._oauth.token = None  # the next call fetches a new one
                        continue
                    self._raise_for_account(exc, account)
                    self._raise_for_credentials(exc)
                    raise PlatformUnavailable(f"google_ads {operation}: {exc}") from None
            raise self._gave_up(operation, last)
        finally:
            _ACCOUNT.reset(token)

    def _raise_for_account(self, exc: _Refusal, account: UUID) -> None:
        if exc.code in _ACCOUNT_CODES:
            raise UnknownAccount(account) from None

    @staticmethod
    def _raise_for_credentials(exc: _Refusal) -> None:
        code = _auth_code(exc.code)
        if code in ("authentication_failed", "permission_denied"):
            raise GoogleAdsAuthFailed(code, exc.message, exc.request_id) from None

    def _gave_up(self, operation: str, last: _Retry | None) -> PlatformUnavailable:
        """The error after the last attempt: :class:`RateLimited` (with the wait Google
        asked for, or the next back-off) when Google was still throttling the account."""
        message = f"google_ads {operation} failed after {self.attempts} attempt(s): {last}"
        if last is not None and last.quota:
            wait = max(last.delay, self._resume_at - time.monotonic())
            return RateLimited(
                message, wait if wait > 0 else self.backoff.delay(self.attempts, lambda: 0.0)
            )
        return PlatformUnavailable(message)

    async def _wait_turn(self) -> None:
        """Hold back while Google has asked the account to wait (quota)."""
        remaining = self._resume_at - time.monotonic()
        if remaining > self.max_retry_delay:
            raise RateLimited(
                f"google_ads: account rate-limited for another {remaining:.0f} s", remaining
            )
        if remaining > 0:
            await self.sleep(remaining)

    async def _back_off(self, exc: _Retry, attempt: int) -> None:
        """Wait before attempt ``attempt + 1`` (none after the last). A delay Google asked
        for holds back every call to the account, not only this one."""
        if exc.delay > 0:
            self._resume_at = max(self._resume_at, time.monotonic() + exc.delay)
        if exc.delay > self.max_retry_delay:
            raise RateLimited(
                f"google_ads asked to wait {exc.delay:.0f} s, longer than "
                f"{self.max_retry_delay:.0f} s: {exc}",
                exc.delay,
            )
        if attempt < self.attempts:
            await self.sleep(max(self.backoff.delay(attempt), exc.delay))

    # --- one RPC -------------------------------------------------------------------

    async def _rpc(
        self,
        account: UUID,
        operation: str,
        request: dict[str, Any],
        send: Callable[[], Awaitable[tuple[Any, str]]],
        summary: Callable[[Any], tuple[Any, str | None]],
    ) -> tuple[Any, str]:
        """One attempt, recorded with Google's request id; the answer and that id.
        Raises :class:`_Retry` or :class:`_Refusal` for what failed."""
        started = time.monotonic()
        sink: list[str] = []
        token = _REQUEST_IDS.set(sink)
        try:
            answer, request_id = await send()
        except Exception as exc:
            failure, status, request_id = _parse_failure(exc, API_VERSION)
            request_id = request_id or (sink[-1] if sink else "")
            errors = _failure_errors(failure) if failure is not None else []
            codes = [code for code, _m, _i, _d in errors]
            message = "; ".join(m for _c, m, _i, _d in errors) or str(exc).splitlines()[0]
            code = codes[0] if codes else _enum_name(status) if status else "unknown"
            error = f"{code}: {message}"
            await self._record(
                account, operation, request, {"request_id": request_id}, error, started
            )
            delay = max((d for _c, _m, _i, d in errors), default=0.0)
            if any(c in _RETRYABLE_CODES for c in codes) or (
                not codes and status in _RETRYABLE_STATUS and not _plugin_failure(exc)
            ):
                quota = status == grpc.StatusCode.RESOURCE_EXHAUSTED or any(
                    c in _QUOTA_CODES for c in codes
                )
                ambiguous = not codes and not quota
                raise _Retry(error, delay=delay, ambiguous=ambiguous, quota=quota) from exc
            if not codes and (status == grpc.StatusCode.UNAUTHENTICATED or _plugin_failure(exc)):
                code = "oauth_token_invalid"
            raise _Refusal(code, message, request_id) from exc
        finally:
            _REQUEST_IDS.reset(token)
        request_id = request_id or (sink[-1] if sink else "")
        result, partly_failed = summary(answer)
        await self._record(
            account,
            operation,
            request,
            {"request_id": request_id, "result": result},
            partly_failed,
            started,
        )
        return answer, request_id

    async def _record(
        self,
        account: UUID,
        operation: str,
        request: dict[str, Any],
        response: dict[str, Any] | None,
        error: str | None,
        started: float,
    ) -> None:
        await record_call(
            self.recorder,
            account=account,
            operation=operation,
            request={"customer_id": self.customer_id, **request},
            response=response,
            error=error,
            started=started,
        )

    # --- changing ------------------------------------------------------------------

    def _to_micros(self, amount: float) -> int:
        units = (Decimal(str(amount)) * MICROS / self.unit_micros).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN
        )
        return int(units) * self.unit_micros

    def _plan(self, campaign: _Campaign, change: Change) -> list[_Op]:
        """The operations that make ``change`` hold (none if it holds already); raises
        :class:`ChangeRefused` for what Google would refuse or adpilot cannot map."""
        if change.kind == "budget":
            if campaign.shared_budget:
                raise ChangeRefused(
                    "shared_budget",
                    "the campaign's budget is shared with other campaigns; change it in Google Ads",
                )
            micros = self._to_micros(float(change.value))
            if micros < self.min_budget_micros:
                raise ChangeRefused(
                    "budget_below_minimum",
                    f"a daily budget of {change.value} {self.currency} is under the minimum "
                    f"of {self.min_budget_micros / MICROS} (pause the campaign instead)",
                )
            if micros == campaign.budget_micros:
                return []
            return [_Op("CampaignBudgetService", campaign.budget_resource, "amount_micros", micros)]
        if change.kind == "status":
            wanted = "ENABLED" if change.value == "active" else "PAUSED"
            if change.value == campaign.status:
                return []
            return [_Op("CampaignService", campaign.resource_name, "status", wanted)]
        if change.kind == "bid":
            if not campaign.manual_cpc:
                raise ChangeRefused(
                    "automated_bidding",
                    "the campaign uses an automated bidding strategy: Google sets its bids",
                )
            groups = [g for g in campaign.groups if g.id in self.baselines.store]
            if not groups:
                raise ChangeRefused("no_ad_groups", "the campaign has no ad group with a bid")
            ops = []
            for group in groups:
                base = self.baselines.store[group.id]
                target = max(self._to_micros(base * float(change.value) / MICROS), self.unit_micros)
                if target != group.bid_micros:
                    ops.append(_Op("AdGroupService", group.resource_name, "cpc_bid_micros", target))
            return ops
        raise ChangeRefused(
            "unsupported_change", f"{change.kind} changes are not made on Google Ads"
        )

    def _after(self, campaign: _Campaign, ops: Sequence[_Op]) -> _Campaign:
        after = replace(campaign, groups=[replace(g) for g in campaign.groups])
        for op in ops:
            if op.field == "amount_micros":
                after.budget_micros = op.value
            elif op.field == "status":
                after.status = "active" if op.value == "ENABLED" else "paused"
            else:
                for group in after.groups:
                    if group.resource_name == op.resource_name:
                        group.bid_micros = op.value
        return after

    async def _changes(
        self,
        account: UUID,
        changes: list[tuple[UUID, Change, UUID | None]],
        *,
        validate: bool,
    ) -> list[ChangeReceipt | ChangeRefused]:
        outcomes: dict[int, ChangeReceipt | ChangeRefused] = {}
        for index, (_campaign_id, _change, change_id) in enumerate(changes):
            if change_id is not None and change_id in self._receipts:
                outcomes[index] = replace(self._receipts[change_id], replayed=True)
        operation = "preview_change" if validate else "apply_change"
        token = _ACCOUNT.set(account)
        try:
            last: _Retry | None = None
            refreshed = False
            for attempt in range(1, self.attempts + 1):
                pending = [i for i in range(len(changes)) if i not in outcomes]
                if not pending:
                    break
                await self._wait_turn()
                try:
                    # Every attempt reads first: after an ambiguous failure this is what
                    # keeps a change that was made from being made again.
                    campaigns = await self._read_campaigns(f"{operation}:read")
                    await self._attempt(changes, pending, campaigns, outcomes, validate, operation)
                except _Retry as exc:
                    last = exc
                    if exc.ambiguous:
                        # The change may have been made: the next attempt reads first and
                        # sends only what does not hold yet.
                        log.warning(
                            "google_ads change outcome unknown; re-reading before retrying",
                            extra={"error": str(exc), "attempt": attempt},
                        )
                    await self._back_off(exc, attempt)
                except _Refusal as exc:
                    if exc.code == "oauth_token_expired" and not refreshed:
                        refreshed = True
                        self._oauth.token = None
                        continue
                    self._raise_for_account(exc, account)
                    self._raise_for_credentials(exc)
                    refusal = GoogleAdsRefused(_auth_code(exc.code), exc.message, exc.request_id)
                    for i in pending:
                        outcomes.setdefault(i, refusal)
            if len(outcomes) < len(changes):
                raise self._gave_up(operation, last)
        finally:
            _ACCOUNT.reset(token)
        return [outcomes[i] for i in range(len(changes))]

    async def _attempt(
        self,
        changes: list[tuple[UUID, Change, UUID | None]],
        pending: list[int],
        campaigns: dict[int, _Campaign],
        outcomes: dict[int, ChangeReceipt | ChangeRefused],
        validate: bool,
        operation: str,
    ) -> None:
        """Plan the pending changes against ``campaigns`` and send them, one request per
        service, settling each change's outcome in ``outcomes``."""
        by_uuid = {c.uuid: c for c in campaigns.values()}
        plans: dict[int, tuple[_Campaign, list[_Op]]] = {}
        settings: set[tuple[UUID, str]] = set()
        for i in pending:
            campaign_id, change, _change_id = changes[i]
            campaign = by_uuid.get(campaign_id)
            if campaign is None:
                outcomes[i] = ChangeRefused("unknown_campaign", f"no campaign {campaign_id}")
                continue
            if (campaign_id, change.kind) in settings:
                outcomes[i] = ChangeRefused(
                    "conflicting_change",
                    f"another change to the {change.kind} of {campaign_id} is in the same batch",
                )
                continue
            settings.add((campaign_id, change.kind))
            try:
                plans[i] = (campaign, self._plan(campaign, change))
            except ChangeRefused as refused:
                outcomes[i] = refused
        # A change's operations all go to one service: each is settled with its request.
        effective_from = self._hour_now()
        for service in ("CampaignBudgetService", "CampaignService", "AdGroupService"):
            batch = [
                (i, op) for i, (_c, ops) in plans.items() for op in ops if op.service == service
            ]
            request_id = ""
            failed: dict[int, ChangeRefused] = {}
            if batch:
                errors, request_id = await self._mutate(
                    service, [op for _i, op in batch], validate, operation
                )
                for position, (code, message) in errors.items():
                    i = batch[position][0]
                    failed.setdefault(i, GoogleAdsRefused(_auth_code(code), message, request_id))
            for i, (campaign, ops) in plans.items():
                if i in outcomes or any(op.service != service for op in ops):
                    continue
                if i in failed:
                    outcomes[i] = failed[i]
                    continue
                campaign_id, change, change_id = changes[i]
                receipt = GoogleAdsReceipt(
                    change_id=change_id or UUID(int=0),
                    campaign=self._state(self._after(campaign, ops)),
                    effective_from=effective_from,
                    request_id=request_id if ops and request_id else None,
                    request_ids=(request_id,) if ops else (),
                )
                outcomes[i] = receipt
                if change_id is not None and not validate:
                    self._receipts[change_id] = receipt
                    while len(self._receipts) > 10_000:
                        self._receipts.popitem(last=False)

    async def _mutate(
        self, service: str, ops: list[_Op], validate: bool, operation: str
    ) -> tuple[dict[int, tuple[str, str]], str]:
        """One mutate request with ``partial_failure``: the errors by operation index, and
        Google's request id."""
        plural, module = {
            "CampaignBudgetService": ("CampaignBudgets", "campaign_budget_service"),
            "CampaignService": ("Campaigns", "campaign_service"),
            "AdGroupService": ("AdGroups", "ad_group_service"),
        }[service]
        operation_type = self._type(module, f"{plural[:-1]}Operation")
        request_type = self._type(module, f"Mutate{plural}Request")
        operations = [
            operation_type(
                update={"resource_name": op.resource_name, op.field: op.value},
                update_mask=field_mask_pb2.FieldMask(paths=[op.field]),
            )
            for op in ops
        ]
        request = request_type(
            customer_id=self.customer_id,
            operations=operations,
            partial_failure=True,
            validate_only=validate,
        )
        method = getattr(self._service(service), f"mutate_{_snake(plural)}")

        async def send() -> tuple[Any, str]:
            return await method(request=request, retry=None, timeout=self.timeout), ""

        record = {
            "service": service,
            "validate_only": validate,
            "operations": [{"resource_name": op.resource_name, op.field: op.value} for op in ops],
        }
        response, request_id = await self._rpc(
            self.account_for_records,
            f"{operation}:{service}",
            record,
            send,
            _mutate_summary,
        )
        return _partial_errors(response, API_VERSION), request_id


def _mutate_summary(response: Any) -> tuple[Any, str | None]:
    """A mutate's results for the record, and its operations' errors (partial failure):
    a request some of whose operations failed is recorded as an error."""
    errors = _partial_errors(response, API_VERSION)
    error = "; ".join(f"operation {i}: {code}: {message}" for i, (code, message) in errors.items())
    return [res.resource_name for res in response.results], error or None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _plugin_failure(exc: BaseException) -> bool:
    """Whether the token endpoint refused the OAuth client or refresh token (a token
    endpoint that could not be reached is worth another try)."""
    text = str(exc).lower()
    return "metadata from plugin failed" in text and any(
        reason in text for reason in ("invalid_grant", "invalid_client", "unauthorized_client")
    )


def _auth_code(code: str) -> str:
    if code in _AUTH_CODES:
        return "authentication_failed"
    if code in _BUDGET_MINIMUM_CODES:
        return "budget_below_minimum"
    if code in {"user_permission_denied", "developer_token_not_on_allowlist"}:
        return "permission_denied"
    if code in {"resource_not_found", "campaign_not_found"}:
        return "unknown_campaign"
    return code


def _partial_errors(response: Any, version: str) -> dict[int, tuple[str, str]]:
    from importlib import import_module

    status = response.partial_failure_error
    if not status or not status.details:
        return {}
    failure_type = import_module(f"google.ads.googleads.{version}.errors.types.errors")
    errors: dict[int, tuple[str, str]] = {}
    for detail in status.details:
        if not detail.type_url.endswith(".GoogleAdsFailure"):
            continue
        failure = failure_type.GoogleAdsFailure.deserialize(detail.value)
        for code, message, index, _delay in _failure_errors(failure):
            if index is not None:
                errors.setdefault(index, (code, message))
    return errors


# Where a linked account's connector reaches Google; tests point these at a fake (whose
# self-signed certificate gRPC trusts through GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
ENDPOINT_ENV = "ADPILOT_GOOGLE_ADS_ENDPOINT"
TOKEN_URI_ENV = "ADPILOT_GOOGLE_ADS_TOKEN_URI"


def connector_for_account(
    customer_id: str,
    time_zone: str,
    credentials: Mapping[str, str],
    *,
    currency: str,
    account: UUID | None = None,
    recorder: CallRecorder | None = None,
) -> GoogleAdsConnector:
    """The connector of a linked account (``/api/ai/connections``): ``credentials`` are
    the connection's (``developer_token``, ``client_id``, ``client_secret``,
    ``refresh_token``, ``login_customer_id``, empty when access is direct), ``account``
    the tenant. ``ADPILOT_GOOGLE_ADS_ENDPOINT`` (host:port) and
    ``ADPILOT_GOOGLE_ADS_TOKEN_URI`` point it away from Google. Raises ``KeyError`` for a
    missing credential and ``ValueError`` for a malformed customer id."""
    import os

    login = (credentials.get("login_customer_id") or "").replace("-", "")
    return GoogleAdsConnector(
        GoogleAdsCredentials(
            developer_token=credentials["developer_token"],
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            refresh_token=credentials["refresh_token"],
            login_customer_id=login or None,
        ),
        customer_id,
        time_zone=time_zone,
        currency=currency,
        account=account,
        endpoint=os.environ.get(ENDPOINT_ENV) or None,
        token_uri=os.environ.get(TOKEN_URI_ENV) or GOOGLE_TOKEN_URI,
        recorder=recorder,
    )
