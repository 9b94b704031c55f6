"""The connector to the sandbox ad platform (``sandbox.server``), over HTTP.

Every call is idempotent (reads, and changes thanks to their change id), so connection
errors, timeouts and 5xx answers are retried a few times with a short backoff. A 4xx
answer is the platform saying no and is never retried.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import aiohttp

from shared.connectors.base import (
    AccountSnapshot,
    ArmResult,
    AuthFailed,
    CallRecorder,
    CampaignState,
    Change,
    ChangeReceipt,
    ChangeRefused,
    ExperimentArm,
    InvalidChange,
    PlatformExperiment,
    PlatformUnavailable,
    RateLimited,
    UnknownAccount,
    record_call,
)
from shared.metrics import HourlyMetrics
from shared.retry import Backoff, retry

log = logging.getLogger("connector.sandbox")

# Where the sandbox answers an account's Auction Insights by day.
AUCTION_INSIGHTS_PATH = "/v1/accounts/{account}/auction-insights"

# The sandbox platform's floor for a daily budget (sandbox/platform.py), checked by previews.
MINIMUM_DAILY_BUDGET = 1.00

# Short: a caller waits for the whole series of attempts.
QUICK = Backoff(first=0.1, cap=1.0)


class _Transient(Exception):
    """An attempt that may succeed if tried again (connection, timeout, 5xx)."""


class _Refusal(Exception):
    """A 4xx answer: the platform's code and message."""

    def __init__(self, status: int, code: str, message: str, retry_after: float = 60.0) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 60.0
    except ValueError:
        return 60.0


def _campaign(data: dict[str, Any]) -> CampaignState:
    return CampaignState(
        campaign_id=UUID(data["campaign_id"]),
        name=str(data["name"]),
        status=data["status"],
        daily_budget=float(data["daily_budget"]),
        bid_multiplier=float(data["bid_multiplier"]),
        audience_factor=float(data["audience_factor"]),
        audiences=tuple(str(a) for a in data.get("audiences", ())),
        creative=str(data["creative"]) if data.get("creative") is not None else None,
    )


def _experiment(data: dict[str, Any]) -> PlatformExperiment:
    ended = data.get("ended_at")
    status = data["status"]
    if status not in ("running", "ended"):
        raise ValueError(f"unknown experiment status {status!r}")
    return PlatformExperiment(
        experiment_id=UUID(data["experiment_id"]),
        campaign_id=UUID(data["campaign_id"]),
        status=status,
        started_at=datetime.fromisoformat(data["started_at"]),
        ended_at=datetime.fromisoformat(ended) if ended else None,
        as_of=datetime.fromisoformat(data["as_of"]),
        variants=tuple(
            ArmResult(str(v["name"]), int(v["users"]), int(v["conversions"]))
            for v in data["variants"]
        ),
    )


def _metrics(row: dict[str, Any]) -> HourlyMetrics:
    return HourlyMetrics(
        campaign_id=UUID(row["campaign_id"]),
        hour=datetime.fromisoformat(row["hour"]),
        impressions=int(row["impressions"]),
        clicks=int(row["clicks"]),
        conversions=int(row["conversions"]),
        spend=float(row["spend"]),
        revenue=float(row["revenue"]),
        budget=float(row["budget"]),
    )


def _error_of(body: Any) -> tuple[str, str] | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        if isinstance(error.get("code"), str):
            return error["code"], str(error.get("message", ""))
    return None


@contextlib.contextmanager
def _parsing(operation: str) -> Iterator[None]:
    """An answer that is not what the platform documents is no answer: the change may or
    may not have been made, so it is :class:`PlatformUnavailable`, never a crash."""
    try:
        yield
    except (KeyError, TypeError, ValueError, InvalidChange) as exc:
        raise PlatformUnavailable(
            f"{operation}: unusable answer from the platform: {exc!r}"
        ) from exc


class SandboxConnector:
    """:class:`~shared.connectors.base.AdPlatformConnector` for the sandbox platform."""

    name = "sandbox"

    def __init__(
        self,
        base_url: str,
        *,
        recorder: CallRecorder | None = None,
        timeout_seconds: float = 5.0,
        attempts: int = 3,
        backoff: Backoff = QUICK,
    ) -> None:
        if attempts < 1 or timeout_seconds <= 0:
            raise ValueError("need at least one attempt and a positive timeout")
        self.base_url = base_url.rstrip("/")
        self.recorder = recorder
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.attempts = attempts
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that uses it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the interface -------------------------------------------------------------

    async def list_campaigns(self, account: UUID) -> AccountSnapshot:
        body = await self._call(
            "list_campaigns",
            account,
            "GET",
            f"/v1/accounts/{account}/campaigns",
            record={"account": str(account)},
        )
        with _parsing("list_campaigns"):
            return AccountSnapshot(
                as_of=datetime.fromisoformat(body["as_of"]),
                campaigns=tuple(_campaign(c) for c in body["campaigns"]),
            )

    async def apply_change(
        self, account: UUID, campaign_id: UUID, change: Change, change_id: UUID
    ) -> ChangeReceipt:
        payload = {"change_id": str(change_id), "kind": change.kind, "value": change.value}
        body = await self._call(
            "apply_change",
            account,
            "POST",
            f"/v1/accounts/{account}/campaigns/{campaign_id}/changes",
            record={"account": str(account), "campaign_id": str(campaign_id), **payload},
            json=payload,
            refusals=True,
        )
        with _parsing("apply_change"):
            return ChangeReceipt(
                change_id=UUID(body["change_id"]),
                campaign=_campaign(body["campaign"]),
                effective_from=datetime.fromisoformat(body["effective_from"]),
                replayed=bool(body["replayed"]),
            )

    async def preview_change(
        self, account: UUID, campaign_id: UUID, change: Change
    ) -> CampaignState:
        """The campaign as ``change`` would leave it, checked as the sandbox checks it; the
        sandbox has no validate-only call, so nothing is sent but a read."""
        snapshot = await self.list_campaigns(account)
        found = [c for c in snapshot.campaigns if c.campaign_id == campaign_id]
        if not found:
            raise ChangeRefused("unknown_campaign", f"no campaign {campaign_id}")
        if change.kind == "budget" and float(change.value) < MINIMUM_DAILY_BUDGET:
            raise ChangeRefused(
                "budget_below_minimum",
                f"a daily budget must be at least {MINIMUM_DAILY_BUDGET:.2f}, got {change.value}",
            )
        return found[0].with_change(change)

    async def hourly_report(
        self, account: UUID, start: datetime, end: datetime
    ) -> list[HourlyMetrics]:
        params = {"start": start.isoformat(), "end": end.isoformat()}
        body = await self._call(
            "hourly_report",
            account,
            "GET",
            f"/v1/accounts/{account}/reports/hourly",
            record={"account": str(account), **params},
            params=params,
        )
        with _parsing("hourly_report"):
            return [_metrics(row) for row in body["rows"]]

    async def start_experiment(
        self,
        account: UUID,
        campaign_id: UUID,
        experiment_id: UUID,
        arms: Sequence[ExperimentArm],
    ) -> PlatformExperiment:
        payload = {
            "experiment_id": str(experiment_id),
            "variants": [{"name": a.name, **dict(a.config)} for a in arms],
            "split": [a.share for a in arms],
        }
        body = await self._call(
            "start_experiment",
            account,
            "POST",
            f"/v1/accounts/{account}/campaigns/{campaign_id}/experiments",
            record={"account": str(account), "campaign_id": str(campaign_id), **payload},
            json=payload,
            refusals=True,
        )
        with _parsing("start_experiment"):
            return _experiment(body)

    async def experiment_results(
        self, account: UUID, campaign_id: UUID, experiment_id: UUID
    ) -> PlatformExperiment:
        body = await self._call(
            "experiment_results",
            account,
            "GET",
            f"/v1/accounts/{account}/campaigns/{campaign_id}/experiments/{experiment_id}/results",
            record={
                "account": str(account),
                "campaign_id": str(campaign_id),
                "experiment_id": str(experiment_id),
            },
            refusals=True,
        )
        with _parsing("experiment_results"):
            return _experiment(body)

    async def auction_insights(self, account: UUID, start: date, end: date) -> list[dict[str, Any]]:
        """The account's Auction Insights rows of the days ``start`` up to, not including,
        ``end`` (UTC), as the platform answers them: campaign, day, domain and the figures
        as shares. Reading them is left to the caller."""
        params = {"start": start.isoformat(), "end": end.isoformat()}
        body = await self._call(
            "auction_insights",
            account,
            "GET",
            AUCTION_INSIGHTS_PATH.format(account=account),
            record={"account": str(account), **params},
            params=params,
        )
        with _parsing("auction_insights"):
            rows = body["rows"]
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValueError("rows is not a list of objects")
            return rows

    # --- one call, retried ---------------------------------------------------------

    async def _call(
        self,
        operation: str,
        account: UUID,
        method: str,
        path: str,
        *,
        record: dict[str, Any],
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        refusals: bool = False,
    ) -> dict[str, Any]:
        """One request, retried on transient failures; every attempt is recorded.

        A 4xx becomes :class:`UnknownAccount` (``unknown_account``), else
        :class:`ChangeRefused` for changes (``refusals``) and :class:`PlatformUnavailable`
        for reads, which have nothing to refuse."""

        async def attempt() -> dict[str, Any]:
            started = time.monotonic()
            body: Any = None
            try:
                async with self._client().request(
                    method, self.base_url + path, json=json, params=params
                ) as response:
                    try:
                        body = await response.json(content_type=None)
                    except ValueError:
                        body = None
                    status = response.status
                    wait = _retry_after(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                await self._record(operation, account, record, None, error, started)
                raise _Transient(error) from exc
            answer = body if isinstance(body, dict) else None
            if status >= 500:
                error = f"HTTP {status}"
                if (found := _error_of(body)) is not None:
                    error += f" {found[0]}: {found[1]}"
                await self._record(operation, account, record, answer, error, started)
                raise _Transient(error)
            if status >= 400:
                code, message = _error_of(body) or (f"http_{status}", f"HTTP {status}")
                await self._record(
                    operation, account, record, answer, f"{code}: {message}", started
                )
                raise _Refusal(status, code, message, wait)
            if answer is None:
                error = f"HTTP {status} without a JSON object"
                await self._record(operation, account, record, None, error, started)
                raise _Transient(error)
            await self._record(operation, account, record, answer, None, started)
            return answer

        try:
            return await retry(
                attempt,
                what=f"sandbox {operation}",
                log=log,
                policy=self.backoff,
                when=lambda exc: isinstance(exc, _Transient),
                attempts=self.attempts,
            )
        except _Transient as exc:
            raise PlatformUnavailable(
                f"sandbox {operation} failed after {self.attempts} attempt(s): {exc}"
            ) from exc
        except _Refusal as exc:
            if exc.status in (401, 403):
                raise AuthFailed(f"sandbox {operation}: credentials refused ({exc.code})") from None
            if exc.status == 429:
                raise RateLimited(
                    f"sandbox {operation}: rate limited ({exc.code})", exc.retry_after
                ) from None
            if exc.code == "unknown_account":
                raise UnknownAccount(account) from None
            if refusals:
                raise ChangeRefused(exc.code, exc.message) from None
            raise PlatformUnavailable(
                f"sandbox {operation} refused with HTTP {exc.status}: {exc}"
            ) from None

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
            error=error,
            started=started,
        )
