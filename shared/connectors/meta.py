"""The connector to Meta's Marketing API, on the official SDK (``facebook-business``).

One connector serves one linked ad account (``act_<id>``). adpilot's campaigns are Meta's
ad sets, where budgets, bids and delivery are set: an ad set's id maps to a campaign UUID
(:mod:`shared.connectors.ids`), its ``daily_budget`` (cents of the account's currency) to
the daily budget, ``status`` to active/paused and ``bid_amount`` to the bid multiplier
(against the ad set's bid when this process first read it).

The SDK is synchronous, so every request runs in a worker thread. What it keeps:

- **Four budget changes per ad set per hour.** Meta blocks an ad set's budget for an hour
  after the fourth change; the connector counts and refuses the fifth itself
  (:class:`ChangeRefused` ``budget_change_limit``) without sending it.
- **Minimum budgets** (the account's ``min_daily_budget``) are checked before sending
  (``budget_below_minimum``).
- **A write that changes nothing is not sent.** The ad set is read first; a change whose
  value is already there answers at once. After an ambiguous failure (the request went
  out and no answer came back) the ad set is read again before any retry, so a change is
  never applied twice.
- **Errors**: rate limits (codes 4, 17, 32, 613, 80000-80014) are :class:`RateLimited`
  with the delay the usage headers ask for; an expired or revoked token (190, 102) or a
  missing permission (10, 200) is :class:`AuthFailed`.
- **No secret leaves it**: the access token travels in the session's Authorization
  header only (never in a URL); every
  error text it records or raises is scrubbed of it.
- Every request's ``fbtrace_id`` is kept on its call record, and a change's on its
  receipt (``request_id``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.api import FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookError, FacebookRequestError
from facebook_business.session import FacebookSession

from shared.connectors.base import (
    AccountSnapshot,
    AuthFailed,
    CallRecorder,
    CampaignState,
    Change,
    ChangeReceipt,
    ChangeRefused,
    ConnectorError,
    ExperimentArm,
    PlatformExperiment,
    PlatformRules,
    PlatformUnavailable,
    RateLimited,
    record_call,
)
from shared.connectors.ids import IdMap
from shared.metrics import HourlyMetrics

log = logging.getLogger("connector.meta")

API_VERSION = "v21.0"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
AUTH_CODES = frozenset({190, 102, 10, 200})
BUDGET_CHANGES_PER_HOUR = 4
HOUR_SECONDS = 3600.0
DEFAULT_RETRY_AFTER = 60.0
# Used when the account does not say (Meta's floor for most currencies is about 1.00).
FALLBACK_MIN_BUDGET_CENTS = 100
ADSET_FIELDS = "id,name,campaign_id,status,daily_budget,bid_amount"
_STATUS_IN = {"ACTIVE": "active", "PAUSED": "paused"}
_STATUS_OUT = {"active": "ACTIVE", "paused": "PAUSED"}
_TOKEN_PARAM = re.compile(r"(access_token|appsecret_proof)=[^&\s'\"]+")
# The purchases Meta reports, as conversions and their value.
PURCHASE_ACTIONS = ("purchase", "omni_purchase", "offsite_conversion.fb_pixel_purchase")

T = TypeVar("T")


class _Ambiguous(Exception):
    """The request may have reached Meta; its answer did not come back."""


def account_number(account_id: str) -> str:
    """``act_123`` or ``123`` as ``123``."""
    number = account_id.removeprefix("act_")
    if not number.isdigit():
        raise ValueError(f"a Meta ad account id is digits (act_ optional), got {account_id!r}")
    return number


def retry_after_from(headers: Any) -> tuple[float, dict[str, Any]]:
    """The delay Meta's usage headers ask for, and the headers as read."""
    usage: dict[str, Any] = {}
    delay = 0.0
    for name in ("x-business-use-case-usage", "x-ad-account-usage", "x-app-usage"):
        raw = headers.get(name) if headers is not None else None
        if not raw:
            continue
        try:
            usage[name] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
    for entries in (usage.get("x-business-use-case-usage") or {}).values():
        for entry in entries if isinstance(entries, list) else ():
            minutes = entry.get("estimated_time_to_regain_access") or 0
            delay = max(delay, float(minutes) * 60)
    account = usage.get("x-ad-account-usage") or {}
    if isinstance(account, dict) and account.get("reset_time_duration"):
        delay = max(delay, float(account["reset_time_duration"]))
    return (delay or DEFAULT_RETRY_AFTER), usage


class MetaConnector:
    """:class:`~shared.connectors.base.AdPlatformConnector` for one Meta ad account."""

    rules = PlatformRules("Meta", budget_changes_per_hour=BUDGET_CHANGES_PER_HOUR)

    name = "meta"

    def __init__(
        self,
        account_id: str,
        access_token: str,
        *,
        recorder: CallRecorder | None = None,
        time_zone: str = "UTC",
        graph_url: str | None = None,
        api_version: str = API_VERSION,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account_number(account_id)
        self.recorder = recorder
        self.zone = ZoneInfo(time_zone)
        self.clock = clock
        self._token = access_token
        session = FacebookSession(access_token=access_token, timeout=timeout_seconds)
        if graph_url is not None:
            session.GRAPH = graph_url.rstrip("/")
        # The token goes in a header, not the query string, so no URL that an HTTP
        # library or proxy logs carries it.
        session.requests.params.pop("access_token", None)
        session.requests.headers["Authorization"] = f"OAuth {access_token}"
        # Built by hand, never with FacebookAdsApi.init(): that one reports crashes to
        # Meta and sets a process-wide default.
        self._api = FacebookAdsApi(session, api_version=api_version)
        self._session = session
        self.ids = IdMap("meta", self.account)
        self._base_bids: dict[str, int] = {}
        # Budget changes per campaign (ad set) in the last hour, as wall-clock seconds.
        self._budget_changes: dict[UUID, deque[float]] = {}
        self._receipts: dict[UUID, ChangeReceipt] = {}
        self._min_budget: int | None = None

    def __repr__(self) -> str:
        return f"MetaConnector(act_{self.account})"

    async def close(self) -> None:
        await asyncio.to_thread(self._session.requests.close)

    # --- reading -----------------------------------------------------------------------

    def _now_hour(self) -> datetime:
        now = datetime.fromtimestamp(self.clock(), UTC)
        return now.replace(minute=0, second=0, microsecond=0)

    def _state(self, adset: dict[str, Any]) -> CampaignState:
        adset_id = str(adset["id"])
        bid = adset.get("bid_amount")
        multiplier = 1.0
        if bid not in (None, ""):
            base = self._base_bids.setdefault(adset_id, int(bid))
            multiplier = int(bid) / base if base else 1.0
        budget = adset.get("daily_budget")
        return CampaignState(
            campaign_id=self.ids.to_uuid(adset_id),
            name=str(adset.get("name") or adset_id),
            status=_STATUS_IN.get(str(adset.get("status")), "paused"),  # type: ignore[arg-type]
            daily_budget=int(budget) / 100 if budget not in (None, "") else 0.0,
            bid_multiplier=multiplier,
            audience_factor=1.0,
        )

    async def list_campaigns(self, account: UUID) -> AccountSnapshot:
        def read() -> list[dict[str, Any]]:
            cursor = AdAccount(f"act_{self.account}", api=self._api).get_ad_sets(
                fields=ADSET_FIELDS.split(","), params={"limit": 500}
            )
            return [dict(item.export_all_data()) for item in cursor]

        adsets = await self._call("list_campaigns", account, {"account": self.account}, read)
        states = tuple(self._state(a) for a in adsets if str(a.get("status")) in _STATUS_IN)
        return AccountSnapshot(as_of=self._now_hour(), campaigns=states)

    async def _adset(self, account: UUID, adset_id: str) -> CampaignState:
        def read() -> dict[str, Any]:
            answer: FacebookResponse = self._api.call(
                "GET", (adset_id,), params={"fields": ADSET_FIELDS}
            )
            body: dict[str, Any] = answer.json()
            return body

        return self._state(await self._call("read_adset", account, {"adset": adset_id}, read))

    async def _minimum_budget(self, account: UUID) -> int:
        if self._min_budget is None:

            def read() -> dict[str, Any]:
                answer = self._api.call(
                    "GET", (f"act_{self.account}",), params={"fields": "min_daily_budget,currency"}
                )
                body: dict[str, Any] = answer.json()
                return body

            body = await self._call("read_account", account, {"account": self.account}, read)
            self._min_budget = int(body.get("min_daily_budget") or FALLBACK_MIN_BUDGET_CENTS)
        return self._min_budget

    async def hourly_report(
        self, account: UUID, start: datetime, end: datetime
    ) -> list[HourlyMetrics]:
        since = start.astimezone(self.zone).date()
        until = (end - timedelta(seconds=1)).astimezone(self.zone).date()
        params = {
            "level": "adset",
            "fields": ["adset_id", "impressions", "clicks", "spend", "actions", "action_values"],
            "breakdowns": ["hourly_stats_aggregated_by_advertiser_time_zone"],
            "time_range": {"since": since.isoformat(), "until": until.isoformat()},
            "time_increment": 1,
            "limit": 1000,
        }

        def read() -> list[dict[str, Any]]:
            cursor = AdAccount(f"act_{self.account}", api=self._api).get_insights(params=params)
            return [dict(item.export_all_data()) for item in cursor]

        rows = await self._call("hourly_report", account, {"account": self.account, **params}, read)
        budgets = {
            s.campaign_id: s.daily_budget for s in (await self.list_campaigns(account)).campaigns
        }
        finished = self._now_hour()
        found = []
        for row in rows:
            hour = self._hour_of(row)
            if start <= hour < end and hour < finished:
                found.append(self._metrics(row, hour, budgets))
        return found

    def _hour_of(self, row: dict[str, Any]) -> datetime:
        day = date.fromisoformat(str(row["date_start"]))
        clock = str(row["hourly_stats_aggregated_by_advertiser_time_zone"])[:2]
        local = datetime(day.year, day.month, day.day, int(clock), tzinfo=self.zone)
        return local.astimezone(UTC)

    def _metrics(
        self, row: dict[str, Any], hour: datetime, budgets: dict[UUID, float]
    ) -> HourlyMetrics:
        campaign = self.ids.to_uuid(str(row["adset_id"]))

        def total(key: str) -> float:
            return sum(
                float(a.get("value", 0))
                for a in row.get(key) or ()
                if a.get("action_type") == PURCHASE_ACTIONS[0]
            )

        return HourlyMetrics(
            campaign_id=campaign,
            hour=hour,
            impressions=int(row.get("impressions") or 0),
            clicks=int(row.get("clicks") or 0),
            conversions=int(total("actions")),
            spend=float(row.get("spend") or 0),
            revenue=total("action_values"),
            budget=budgets.get(campaign, 0.0),
        )

    # --- writing -----------------------------------------------------------------------

    async def _target(
        self, account: UUID, campaign_id: UUID, change: Change
    ) -> tuple[str, CampaignState, CampaignState]:
        if change.kind not in ("budget", "bid", "status"):
            raise ChangeRefused(
                "unsupported_change",
                f"Meta ad sets take budget, bid and status changes, not {change.kind}",
            )
        adset_id = self.ids.to_external(campaign_id)
        if adset_id is None:
            await self.list_campaigns(account)
            adset_id = self.ids.to_external(campaign_id)
        if adset_id is None:
            raise ChangeRefused(
                "unknown_campaign", f"no ad set of act_{self.account} is {campaign_id}"
            )
        current = await self._adset(account, adset_id)
        target = current.with_change(change)
        if change.kind == "budget":
            minimum = await self._minimum_budget(account)
            if round(float(change.value) * 100) < minimum:
                raise ChangeRefused(
                    "budget_below_minimum",
                    f"Meta needs a daily budget of at least {minimum / 100:.2f} on this account, "
                    f"got {float(change.value):.2f}",
                )
        if change.kind == "bid" and adset_id not in self._base_bids:
            raise ChangeRefused("no_bid_amount", "the ad set has no bid amount to scale")
        return adset_id, current, target

    def _params(self, adset_id: str, change: Change) -> dict[str, Any]:
        if change.kind == "budget":
            return {"daily_budget": round(float(change.value) * 100)}
        if change.kind == "bid":
            return {"bid_amount": round(self._base_bids[adset_id] * float(change.value))}
        return {"status": _STATUS_OUT[str(change.value)]}

    def remember_budget_changes(self, changes: Iterable[tuple[UUID, float]]) -> None:
        """Budget changes made before this connector existed (by another process, or
        before a restart): ``(campaign id, when)``, counted against Meta's hourly rule."""
        for campaign_id, at in sorted(changes, key=lambda c: c[1]):
            self._budget_changes.setdefault(campaign_id, deque()).append(at)

    def budget_changes_this_hour(self, campaign_id: UUID) -> int:
        """How many budget changes of the campaign count against Meta's hourly rule now."""
        now = self.clock()
        return sum(1 for at in self._budget_changes.get(campaign_id, ()) if at > now - HOUR_SECONDS)

    def _check_budget_window(self, campaign_id: UUID) -> None:
        now = self.clock()
        changes = self._budget_changes.setdefault(campaign_id, deque())
        while changes and changes[0] <= now - HOUR_SECONDS:
            changes.popleft()
        if len(changes) >= BUDGET_CHANGES_PER_HOUR:
            free_at = datetime.fromtimestamp(changes[0] + HOUR_SECONDS, UTC)
            raise ChangeRefused(
                "budget_change_limit",
                f"Meta allows {BUDGET_CHANGES_PER_HOUR} budget changes per ad set per hour and "
                f"blocks the ad set's budget for an hour after that; the next change can be "
                f"sent after {free_at.isoformat()}",
            )

    async def preview_change(
        self, account: UUID, campaign_id: UUID, change: Change
    ) -> CampaignState:
        """Send the change with ``validate_only``: Meta checks it and changes nothing."""
        adset_id, current, target = await self._target(account, campaign_id, change)
        if change.kind == "budget" and target.daily_budget != current.daily_budget:
            self._check_budget_window(campaign_id)
        params = {**self._params(adset_id, change), "execution_options": ["validate_only"]}
        await self._post(account, "preview_change", adset_id, params)
        return target

    async def apply_change(
        self, account: UUID, campaign_id: UUID, change: Change, change_id: UUID
    ) -> ChangeReceipt:
        known = self._receipts.get(change_id)
        if known is not None:
            return ChangeReceipt(
                known.change_id, known.campaign, known.effective_from, True, known.request_id
            )
        adset_id, current, target = await self._target(account, campaign_id, change)
        receipt = ChangeReceipt(change_id, target, self._now_hour())
        if target == current:
            self._receipts[change_id] = receipt
            return receipt  # nothing to change: nothing sent
        if change.kind == "budget":
            self._check_budget_window(campaign_id)
        params = self._params(adset_id, change)
        try:
            trace = await self._post(account, "apply_change", adset_id, params)
        except _Ambiguous:
            # The write may have been made: look before sending it again.
            seen = await self._adset(account, adset_id)
            trace = ""
            if seen != target:
                try:
                    trace = await self._post(account, "apply_change", adset_id, params)
                except _Ambiguous as again:
                    raise PlatformUnavailable(str(again)) from None
        if change.kind == "budget":
            self._budget_changes.setdefault(campaign_id, deque()).append(self.clock())
        receipt = ChangeReceipt(change_id, target, self._now_hour(), request_id=trace or None)
        self._receipts[change_id] = receipt
        return receipt

    async def _post(
        self, account: UUID, operation: str, adset_id: str, params: dict[str, Any]
    ) -> str:
        """POST to the ad set; answers the request's fbtrace_id."""

        def send() -> str:
            answer: FacebookResponse = self._api.call("POST", (adset_id,), params=params)
            return str(answer.headers().get("x-fb-trace-id") or "")

        return await self._call(
            operation, account, {"adset": adset_id, **params}, send, writes=True
        )

    # --- experiments: run by adpilot itself on Meta, not through the platform ----------

    async def start_experiment(
        self,
        account: UUID,
        campaign_id: UUID,
        experiment_id: UUID,
        arms: Sequence[ExperimentArm],
    ) -> PlatformExperiment:
        raise ChangeRefused(
            "invalid_experiment", "experiments on Meta are not run through the platform"
        )

    async def experiment_results(
        self, account: UUID, campaign_id: UUID, experiment_id: UUID
    ) -> PlatformExperiment:
        raise ChangeRefused("unknown_experiment", f"Meta runs no experiment {experiment_id}")

    # --- one request, off the event loop, recorded ---------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` without the access token (nor any token-like query parameter)."""
        if self._token:
            text = text.replace(self._token, "***")
        return _TOKEN_PARAM.sub(r"\1=***", text)

    async def _call(
        self,
        operation: str,
        account: UUID,
        request: dict[str, Any],
        work: Callable[[], T],
        *,
        writes: bool = False,
    ) -> T:
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(work)
        except FacebookRequestError as exc:
            error, trace = self._mapped(exc, operation, writes)
            await self._record(
                operation, account, request, {"fbtrace_id": trace}, str(error), started
            )
            raise error from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            text = self.scrub(f"{type(exc).__name__}: {exc}")
            await self._record(operation, account, request, None, text, started)
            if writes:
                raise _Ambiguous(f"meta {operation}: no answer ({text})") from None
            raise PlatformUnavailable(f"meta {operation}: {text}") from None
        except (FacebookError, requests.RequestException, KeyError, ValueError, TypeError) as exc:
            text = self.scrub(f"{type(exc).__name__}: {exc}")
            await self._record(operation, account, request, None, text, started)
            raise PlatformUnavailable(f"meta {operation}: unusable answer ({text})") from None
        response = (
            {"fbtrace_id": result}
            if writes
            else {"rows": len(result) if isinstance(result, list) else 1}
        )
        await self._record(operation, account, request, response, None, started)
        return result

    def _mapped(
        self, exc: FacebookRequestError, operation: str, writes: bool
    ) -> tuple[ConnectorError, str | None]:
        body = exc.body() if isinstance(exc.body(), dict) else {}
        trace = (body.get("error") or {}).get("fbtrace_id") if body else None
        code = exc.api_error_code()
        message = self.scrub(str(exc.api_error_message() or f"HTTP {exc.http_status()}"))
        where = f"meta {operation} (code {code}, fbtrace_id {trace})"
        if code in RATE_LIMIT_CODES:
            delay, usage = retry_after_from(exc.http_headers())
            return RateLimited(f"{where}: rate limited: {message}", delay, usage), trace
        if code in AUTH_CODES or exc.http_status() == 401:
            return AuthFailed(f"{where}: credentials refused: {message}"), trace
        if exc.api_transient_error() or (exc.http_status() or 500) >= 500 or code in (1, 2):
            return PlatformUnavailable(f"{where}: {message}"), trace
        if writes:
            return ChangeRefused(f"meta_{code}", f"{message} (fbtrace_id {trace})"), trace
        return PlatformUnavailable(f"{where}: {message}"), trace

    async def _record(
        self,
        operation: str,
        account: UUID,
        request: dict[str, Any],
        response: dict[str, Any] | None,
        error: str | None,
        started: float,
    ) -> None:
        await record_call(
            self.recorder,
            account=account,
            operation=operation,
            request=request,
            response=response,
            error=None if error is None else self.scrub(error),
            started=started,
        )
