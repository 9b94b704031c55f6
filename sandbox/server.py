"""The sandbox ad platform over HTTP: what adpilot's sandbox connector talks to.

Errors are ``{"error": {"code", "message"}}``. Finished hours are pushed to the gateway
(``POST {gateway}/api/ai/metrics`` with the account's key), as a real platform's reports
would arrive. ``POST /v1/_faults`` makes the next requests fail or hang, for tests.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.auctions import (
    DEFAULT_MOVE_FACTORS,
    DOMAINS,
    CompetitorMove,
    add_moves,
    random_moves,
)
from sandbox.driver import floor_hour, post_batch
from sandbox.platform import (
    Account,
    PlatformError,
    SandboxPlatform,
    metrics_json,
    rows_for,
)
from sandbox.simulator import (
    DEFAULT_MAGNITUDES,
    HOUR,
    AdCopy,
    CampaignSimulator,
    InjectedAnomaly,
    campaign_id_for,
)
from shared.metrics_input import MAX_BATCH

log = logging.getLogger("sandbox")

MAX_ADVANCE_HOURS = 24 * 366


# --- request bodies ------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnomalySpec(_Body):
    """An anomaly on the ``campaign_index``-th campaign, hours counted from the start."""

    kind: str
    campaign_index: int = Field(ge=0)
    start_hour: int = Field(ge=0)
    hours: int = Field(default=6, ge=1)
    magnitude: float | None = None


class AccountCreate(_Body):
    account_id: uuid.UUID
    campaigns: int = Field(ge=1, le=500)
    seed: int = Field(ge=0)
    start: datetime | None = None
    backfill_hours: int = Field(default=0, ge=0, le=MAX_ADVANCE_HOURS)
    api_key: str | None = None
    anomalies: list[AnomalySpec] = []
    # Optional: each backfilled day runs at a seeded multiple of each campaign's budget
    # in [1 - budget_variation, 1 + budget_variation] (see CampaignSimulator.vary_budgets);
    # 0 keeps budgets constant.
    budget_variation: float = Field(default=0.0, ge=0.0, lt=1.0)
    # Optional: search auctions against competitors for some campaigns.
    auctions: AuctionSpec | None = None


class MoveSpec(_Body):
    """A competitor's move in the ``campaign_index``-th campaign's auctions, hours
    counted from the start; ``competitor`` is one of its market's domains (by default the
    market's first)."""

    kind: Literal["entered", "exited", "aggressive", "retreated"]
    campaign_index: int = Field(ge=0)
    start_hour: int = Field(ge=0)
    competitor: str | None = None
    bid_factor: float | None = Field(default=None, gt=0, le=20)
    reach_factor: float | None = Field(default=None, gt=0, le=20)


class AuctionSpec(_Body):
    """The first ``campaigns`` campaigns buy their traffic in search auctions against
    ``competitors`` seeded competitors each (four to seven when not given), who make
    ``moves`` and, per campaign, ``random_moves`` seeded ones over the first
    ``random_move_days`` days."""

    campaigns: int = Field(ge=1, le=500)
    competitors: int | None = Field(default=None, ge=1, le=len(DOMAINS))
    moves: list[MoveSpec] = []
    random_moves: int = Field(default=0, ge=0, le=len(DOMAINS))
    random_move_days: int = Field(default=42, ge=16, le=366)


class ChangeRequest(_Body):
    change_id: uuid.UUID
    kind: Any
    # Left as sent: shared.connectors.Change decides what a valid value is.
    value: Any


class CopySpec(BaseModel):
    """An ad copy: its name and true conversion rate; other fields (headline, text...)
    describe the copy and are ignored by the simulation."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=100)
    conversion_rate: float = Field(ge=0, le=1)


class ExperimentStart(_Body):
    experiment_id: uuid.UUID
    variants: list[CopySpec] = Field(min_length=2, max_length=20)
    split: list[float] | None = None


class Advance(_Body):
    hours: int = Field(ge=1, le=MAX_ADVANCE_HOURS)
    # Only this account's clock, when given: the others keep theirs.
    account: uuid.UUID | None = None


class FaultPlan(_Body):
    """The next ``fail_next`` matching requests wait ``delay_seconds``, then answer
    ``status`` (500 unless only a delay is asked); with ``after_apply`` the request is
    served first and its answer replaced by the failure.

    ``scope``: change requests only (``changes``), every request (``any``), or every
    request from the next change on (``from_change``: the platform goes down as a change
    reaches it, so the reads before the change are answered and those after it are not).
    """

    fail_next: int = Field(ge=0)
    status: int | None = Field(default=None, ge=400, le=599)
    delay_seconds: float = Field(default=0.0, ge=0, le=300)
    after_apply: bool = False
    scope: Literal["changes", "any", "from_change"] = "changes"
    # Only requests for this account's URLs, when given: other accounts go on unharmed.
    account: uuid.UUID | None = None


# --- application state ---------------------------------------------------------------


@dataclass
class Faults:
    plan: FaultPlan | None = None

    # Whether a ``from_change`` plan has met its change.
    armed: bool = False

    def take(self, is_change: bool, path: str) -> FaultPlan | None:
        plan = self.plan
        if plan is None or plan.fail_next <= 0 or (plan.scope == "changes" and not is_change):
            return None
        if plan.account is not None and not path.startswith(f"/v1/accounts/{plan.account}/"):
            return None
        if plan.scope == "from_change" and not self.armed:
            if not is_change:
                return None
            self.armed = True
        plan.fail_next -= 1
        if plan.fail_next == 0:
            self.plan = None
        return plan


@dataclass
class Gateway:
    """Where finished hours go; ``url`` None keeps them on the platform only."""

    url: str | None
    patience: float = 60.0


PLATFORM = web.AppKey("platform", SandboxPlatform)
FAULTS = web.AppKey("faults", Faults)
GATEWAY = web.AppKey("gateway", Gateway)
# One advance or delivery at a time, so no hour is pushed twice.
CLOCK_LOCK = web.AppKey("clock_lock", asyncio.Lock)
# Requests still being served after their client gave up.
PENDING = web.AppKey("pending", set[asyncio.Future[web.StreamResponse]])


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _body(request: web.Request, model: type[_Body]) -> Any:
    try:
        raw = await request.json()
    except ValueError:
        raise PlatformError(400, "invalid_request", "the body must be JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise PlatformError(422, "invalid_request", problems) from None


def _uuid(request: web.Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        code = "unknown_account" if name == "account" else "unknown_campaign"
        raise PlatformError(404, code, f"{request.match_info[name]!r} is not an id") from None


def _instant(request: web.Request, name: str) -> datetime:
    text = request.query.get(name)
    if not text:
        raise PlatformError(422, "invalid_request", f"query parameter {name} is required")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PlatformError(422, "invalid_request", f"{name} must be ISO 8601") from None
    if moment.tzinfo is None:
        raise PlatformError(422, "invalid_request", f"{name} needs a time zone")
    return moment


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_and_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer platform errors as JSON, and play injected faults on account requests."""
    fault = None
    if request.path.startswith("/v1/accounts/"):
        is_change = request.method == "POST" and request.path.endswith("/changes")
        fault = request.app[FAULTS].take(is_change, request.path)
    if fault is None:
        return await _answer(request, handler)
    if not fault.delay_seconds:
        return await _faulty(request, handler, fault)
    # A hung request goes on even if the client gives up on it, as on a real platform:
    # read the body now and finish the work whether or not anyone still waits.
    await request.read()
    work = asyncio.ensure_future(_faulty(request, handler, fault))
    pending = request.app[PENDING]
    pending.add(work)
    work.add_done_callback(pending.discard)
    return await asyncio.shield(work)


async def _faulty(request: web.Request, handler: Handler, fault: FaultPlan) -> web.StreamResponse:
    if fault.delay_seconds:
        await asyncio.sleep(fault.delay_seconds)
    status = fault.status or (None if fault.delay_seconds else 500)
    if status is not None and not fault.after_apply:
        return _error(status, "injected_fault", "failure injected for a test")
    response = await _answer(request, handler)
    if fault.after_apply and response.status < 400:
        return _error(status or 500, "injected_fault", "failure injected after applying")
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PlatformError as exc:
        return _error(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            code = "not_found" if exc.status == 404 else "http_error"
            return _error(exc.status, code, exc.reason)
        raise


# --- delivery to the gateway ---------------------------------------------------------


async def deliver(app: web.Application, account: Account) -> None:
    """Push the account's finished hours the gateway has not accepted, in bulk batches.

    The caller holds :data:`CLOCK_LOCK`. Raises PlatformError (502) if the gateway refuses
    or stays away; what was accepted so far stays delivered, the rest goes next time."""
    gateway = app[GATEWAY]
    hours = account.undelivered()
    if not hours:
        return
    if gateway.url is None:
        account.delivered = account.clock
        return
    url = f"{gateway.url.rstrip('/')}/api/ai/metrics"
    headers = {"Authorization": f"Bearer {account.api_key}"} if account.api_key else None
    per_batch = max(1, MAX_BATCH // len(account.simulator.campaign_ids))
    async with aiohttp.ClientSession(headers=headers) as session:
        for first in range(0, len(hours), per_batch):
            batch = hours[first : first + per_batch]
            try:
                # Simulating hours (auctions above all) is CPU work: off the event loop,
                # so the other accounts' requests are served meanwhile.
                rows = await asyncio.to_thread(rows_for, account, batch)
                await post_batch(session, url, rows, gateway.patience)
            except RuntimeError as exc:
                raise PlatformError(502, "gateway_unavailable", str(exc)) from None
            account.delivered = batch[-1] + HOUR


def _clock_json(platform: SandboxPlatform) -> dict[str, Any]:
    return {
        "accounts": {
            str(account.account_id): {
                "clock": account.clock.isoformat(),
                "delivered": account.delivered.isoformat(),
            }
            for account in platform.accounts.values()
        }
    }


async def advance_all(
    app: web.Application, hours: int, only: uuid.UUID | None = None
) -> dict[str, Any]:
    """Finish ``hours`` more hours on every account (or on ``only``) and push them to the
    gateway."""
    platform = app[PLATFORM]
    async with app[CLOCK_LOCK]:
        accounts = [platform.account(only)] if only else list(platform.accounts.values())
        for account in accounts:
            platform.finish_hours(account.account_id, hours)
        for account in accounts:
            await deliver(app, account)
        return _clock_json(platform)


# --- routes --------------------------------------------------------------------------


def _anomaly(spec: AnomalySpec, campaign_ids: tuple[uuid.UUID, ...], start: datetime) -> Any:
    if spec.campaign_index >= len(campaign_ids):
        raise PlatformError(
            422, "invalid_request", f"campaign_index must be below {len(campaign_ids)}"
        )
    try:
        return InjectedAnomaly(
            campaign_id=campaign_ids[spec.campaign_index],
            kind=spec.kind,  # type: ignore[arg-type]
            start_hour=start + spec.start_hour * HOUR,
            end_hour=start + (spec.start_hour + spec.hours) * HOUR,
            magnitude=(
                DEFAULT_MAGNITUDES.get(spec.kind, 1.0) if spec.magnitude is None else spec.magnitude
            ),
        )
    except ValueError as exc:
        raise PlatformError(422, "invalid_request", f"anomaly: {exc}") from None


def open_markets(
    simulator: CampaignSimulator, spec: AuctionSpec, ids: tuple[uuid.UUID, ...], start: datetime
) -> None:
    """Put the spec's campaigns in auctions and schedule its competitors' moves."""
    if spec.campaigns > len(ids):
        raise PlatformError(422, "invalid_request", "auctions: more campaigns than the account has")
    try:
        for campaign_id in ids[: spec.campaigns]:
            market = simulator.open_market(campaign_id, spec.competitors)
            if spec.random_moves:
                moves = random_moves(market, start, spec.random_move_days, count=spec.random_moves)
                add_moves(market, moves)
        for move in spec.moves:
            if move.campaign_index >= spec.campaigns:
                raise ValueError(f"campaign {move.campaign_index} is not in auctions")
            moving = simulator.market(ids[move.campaign_index])
            assert moving is not None
            simulator.add_competitor_move(
                CompetitorMove(
                    moving.campaign_id,
                    move.competitor or moving.domains[0],
                    move.kind,
                    start + move.start_hour * HOUR,
                    move.bid_factor or DEFAULT_MOVE_FACTORS[move.kind][0],
                    move.reach_factor or DEFAULT_MOVE_FACTORS[move.kind][1],
                )
            )
    except ValueError as exc:
        raise PlatformError(422, "invalid_request", f"auctions: {exc}") from None


async def create_account(request: web.Request) -> web.Response:
    body: AccountCreate = await _body(request, AccountCreate)
    platform = request.app[PLATFORM]
    if body.start is None:
        # The backfill ends at the current hour: every finished hour is a real, past one.
        start = floor_hour(datetime.now(UTC)) - body.backfill_hours * HOUR
    elif body.start.tzinfo is None:
        raise PlatformError(422, "invalid_request", "start needs a time zone")
    else:
        start = floor_hour(body.start)
    ids = tuple(campaign_id_for(body.seed, i) for i in range(body.campaigns))
    anomalies = [_anomaly(spec, ids, start) for spec in body.anomalies]
    async with request.app[CLOCK_LOCK]:
        account = platform.create_account(
            body.account_id,
            body.campaigns,
            body.seed,
            start,
            api_key=body.api_key,
            anomalies=anomalies,
        )
        account.simulator.vary_budgets(start + body.backfill_hours * HOUR, body.budget_variation)
        if body.auctions is not None:
            try:
                open_markets(account.simulator, body.auctions, ids, start)
            except PlatformError:
                del platform.accounts[account.account_id]
                raise
        platform.finish_hours(account.account_id, body.backfill_hours)
        await deliver(request.app, account)
    return web.json_response(account_json(account), status=201)


def account_json(account: Account) -> dict[str, Any]:
    return {
        "account_id": str(account.account_id),
        "start": account.start.isoformat(),
        "clock": account.clock.isoformat(),
        "delivered": account.delivered.isoformat(),
        "campaigns": [s.as_json() for s in account.campaigns()],
    }


async def list_campaigns(request: web.Request) -> web.Response:
    account = request.app[PLATFORM].account(_uuid(request, "account"))
    return web.json_response(
        {
            "as_of": account.clock.isoformat(),
            "campaigns": [s.as_json() for s in account.campaigns()],
        }
    )


async def get_campaign(request: web.Request) -> web.Response:
    account = request.app[PLATFORM].account(_uuid(request, "account"))
    state = account.campaign(_uuid(request, "campaign"))
    return web.json_response({"as_of": account.clock.isoformat(), "campaign": state.as_json()})


async def post_change(request: web.Request) -> web.Response:
    account_id = _uuid(request, "account")
    campaign_id = _uuid(request, "campaign")
    platform = request.app[PLATFORM]
    platform.account(account_id)
    body: ChangeRequest = await _body(request, ChangeRequest)
    answer = platform.apply(account_id, campaign_id, body.change_id, body.kind, body.value)
    return web.json_response(answer)


async def post_experiment(request: web.Request) -> web.Response:
    account_id = _uuid(request, "account")
    campaign_id = _uuid(request, "campaign")
    platform = request.app[PLATFORM]
    platform.account(account_id)
    body: ExperimentStart = await _body(request, ExperimentStart)
    copies = [AdCopy(v.name, v.conversion_rate) for v in body.variants]
    async with request.app[CLOCK_LOCK]:
        answer = platform.start_experiment(
            account_id, campaign_id, body.experiment_id, copies, body.split
        )
    return web.json_response(answer, status=201)


async def experiment_results(request: web.Request) -> web.Response:
    account_id = _uuid(request, "account")
    campaign_id = _uuid(request, "campaign")
    try:
        experiment_id = uuid.UUID(request.match_info["experiment"])
    except ValueError:
        raise PlatformError(404, "unknown_experiment", "not an experiment id") from None
    async with request.app[CLOCK_LOCK]:
        answer = request.app[PLATFORM].experiment(account_id, campaign_id, experiment_id)
    return web.json_response(answer)


async def list_changes(request: web.Request) -> web.Response:
    account = request.app[PLATFORM].account(_uuid(request, "account"))
    return web.json_response({"changes": [e.to_json() for e in account.changes.values()]})


async def hourly_report(request: web.Request) -> web.Response:
    account_id = _uuid(request, "account")
    start, end = _instant(request, "start"), _instant(request, "end")
    rows = await asyncio.to_thread(request.app[PLATFORM].report, account_id, start, end)
    return web.json_response({"rows": [metrics_json(r) for r in rows]})


def _day(request: web.Request, name: str) -> date:
    text = request.query.get(name)
    if not text:
        raise PlatformError(422, "invalid_request", f"query parameter {name} is required")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PlatformError(422, "invalid_request", f"{name} must be a date, YYYY-MM-DD") from None


async def auction_insights(request: web.Request) -> web.Response:
    """Auction Insights per campaign, competitor and finished day in ``[start, end)``."""
    account_id = _uuid(request, "account")
    start, end = _day(request, "start"), _day(request, "end")
    # A report runs the days' auctions again where they are not kept: off the event loop.
    rows = await asyncio.to_thread(request.app[PLATFORM].auction_insights, account_id, start, end)
    return web.json_response({"rows": [r.as_json() for r in rows]})


async def competitor_moves(request: web.Request) -> web.Response:
    """Every competitor move scheduled in the account's auctions: the ground truth."""
    account = request.app[PLATFORM].account(_uuid(request, "account"))
    return web.json_response(
        {
            "moves": [
                {
                    "campaign_id": str(m.campaign_id),
                    "competitor": m.domain,
                    "kind": m.kind,
                    "start_hour": m.start_hour.isoformat(),
                    "bid_factor": m.bid_factor,
                    "reach_factor": m.reach_factor,
                }
                for m in account.simulator.competitor_moves
            ]
        }
    )


async def post_advance(request: web.Request) -> web.Response:
    body: Advance = await _body(request, Advance)
    return web.json_response(await advance_all(request.app, body.hours, body.account))


async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock_json(request.app[PLATFORM]))


async def post_faults(request: web.Request) -> web.Response:
    plan: FaultPlan = await _body(request, FaultPlan)
    request.app[FAULTS].plan = plan if plan.fail_next > 0 else None
    request.app[FAULTS].armed = False
    return web.json_response(plan.model_dump(mode="json"))


async def delete_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].plan = None
    return web.json_response({"fail_next": 0})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(
    platform: SandboxPlatform | None = None,
    *,
    gateway: str | None = None,
    gateway_patience: float = 60.0,
) -> web.Application:
    """The sandbox platform's HTTP app; ``gateway`` None keeps finished hours unpushed."""
    app = web.Application(middlewares=[errors_and_faults])
    app[PLATFORM] = platform or SandboxPlatform()
    app[FAULTS] = Faults()
    app[GATEWAY] = Gateway(gateway, gateway_patience)
    app[CLOCK_LOCK] = asyncio.Lock()
    app[PENDING] = set()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/v1/accounts", create_account)
    app.router.add_get("/v1/accounts/{account}/campaigns", list_campaigns)
    app.router.add_get("/v1/accounts/{account}/campaigns/{campaign}", get_campaign)
    app.router.add_post("/v1/accounts/{account}/campaigns/{campaign}/changes", post_change)
    app.router.add_post("/v1/accounts/{account}/campaigns/{campaign}/experiments", post_experiment)
    app.router.add_get(
        "/v1/accounts/{account}/campaigns/{campaign}/experiments/{experiment}/results",
        experiment_results,
    )
    app.router.add_get("/v1/accounts/{account}/changes", list_changes)
    app.router.add_get("/v1/accounts/{account}/reports/hourly", hourly_report)
    app.router.add_get("/v1/accounts/{account}/auction-insights", auction_insights)
    app.router.add_get("/v1/accounts/{account}/competitor-moves", competitor_moves)
    app.router.add_post("/v1/clock/advance", post_advance)
    app.router.add_get("/v1/clock", get_clock)
    app.router.add_post("/v1/_faults", post_faults)
    app.router.add_delete("/v1/_faults", delete_faults)
    return app
