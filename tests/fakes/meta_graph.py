"""A fake of Meta's Graph API (the Marketing API's ad sets, insights and account), served
by aiohttp on a local port, for the Meta connector to be pointed at through its session's
Graph URL.

It keeps ad sets in memory, checks the access token on every request, and plays the
behaviours a test asks for (:class:`Behaviour`): the account's minimum budget, Meta's rule
of four budget changes per ad set per hour, a rate limit with usage headers, an expired
token, and a write that is made and whose answer never comes back. Every answer carries
an ``x-fb-trace-id``; every error body its ``fbtrace_id``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestServer

PARAMS = web.RequestKey("params", dict[str, str])
BUDGET_LIMIT_SUBCODE = 1885621  # our fake's subcode for a blocked ad set budget


@dataclass
class Behaviour:
    min_daily_budget: int = 100  # cents
    budget_changes_per_hour: int = 4
    # The next this many requests are answered with a rate limit (code 17).
    rate_limited: int = 0
    regain_minutes: int = 7
    token_expired: bool = False
    # The next this many writes are made, then their answer is held past the client's
    # timeout (the connection is as good as dropped).
    commit_then_drop: int = 0
    drop_seconds: float = 2.0


@dataclass
class MetaGraph:
    """The fake's state; ``writes`` holds every POST that changed an ad set."""

    token: str
    account: str = "1234567890"
    time_zone: str = "America/New_York"
    behaviour: Behaviour = field(default_factory=Behaviour)
    adsets: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[dict[str, Any]] = field(default_factory=list)
    validated: list[dict[str, Any]] = field(default_factory=list)
    # Ad set -> the hour (UTC) from which it converts no more.
    collapse: dict[str, datetime] = field(default_factory=dict)
    requests: int = 0
    _budget_times: dict[str, list[float]] = field(default_factory=dict)
    _traces: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def seed(self, count: int = 3) -> None:
        for n in range(count):
            adset_id = f"2384{n:09d}"
            self.adsets[adset_id] = {
                "id": adset_id,
                "name": f"Ad set {n}",
                "campaign_id": "120000000000",
                "status": "ACTIVE",
                "daily_budget": str(5000 + 1000 * n),
                "bid_amount": str(150 + 10 * n),
            }

    # --- answers -------------------------------------------------------------------

    def _trace(self) -> str:
        return f"AfakeTrace{next(self._traces):06d}"

    def _ok(self, body: Any) -> web.Response:
        return web.json_response(body, headers={"x-fb-trace-id": self._trace()})

    def _error(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        kind: str = "OAuthException",
        headers: dict[str, str] | None = None,
        status: int = 400,
    ) -> web.Response:
        trace = self._trace()
        error: dict[str, Any] = {
            "message": message,
            "type": kind,
            "code": code,
            "fbtrace_id": trace,
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        return web.json_response(
            {"error": error}, status=status, headers={"x-fb-trace-id": trace, **(headers or {})}
        )

    def _usage_headers(self) -> dict[str, str]:
        usage = {
            self.account: [
                {
                    "type": "ads_management",
                    "call_count": 100,
                    "total_cputime": 40,
                    "total_time": 60,
                    "estimated_time_to_regain_access": self.behaviour.regain_minutes,
                }
            ]
        }
        return {
            "x-business-use-case-usage": json.dumps(usage),
            "x-app-usage": json.dumps({"call_count": 100, "total_cputime": 10, "total_time": 10}),
        }

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    # --- the middleware: token, rate limit ---------------------------------------------

    @web.middleware
    async def gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        params = await self._params(request)
        header = request.headers.get("Authorization", "")
        token = header.split(" ", 1)[1] if " " in header else params.get("access_token")
        if token != self.token:
            return self._error(190, "Invalid OAuth access token - Cannot parse access token")
        if self.behaviour.token_expired:
            return self._error(
                190,
                "Error validating access token: Session has expired.",
                subcode=463,
            )
        if self.behaviour.rate_limited > 0:
            self.behaviour.rate_limited -= 1
            return self._error(
                17, "User request limit reached", subcode=2446079, headers=self._usage_headers()
            )
        request[PARAMS] = params
        response: web.StreamResponse = await handler(request)
        return response

    # --- routes --------------------------------------------------------------------

    async def account_node(self, request: web.Request) -> web.Response:
        if request.match_info["account"] != self.account:
            return self._error(
                100, "Unsupported get request.", subcode=33, kind="GraphMethodException"
            )
        return self._ok(
            {
                "id": f"act_{self.account}",
                "min_daily_budget": self.behaviour.min_daily_budget,
                "currency": "USD",
                "timezone_name": self.time_zone,
            }
        )

    async def list_adsets(self, request: web.Request) -> web.Response:
        return self._ok({"data": [dict(a) for a in self.adsets.values()]})

    async def get_adset(self, request: web.Request) -> web.Response:
        adset = self.adsets.get(request.match_info["node"])
        if adset is None:
            return self._error(
                100, "Unsupported get request.", subcode=33, kind="GraphMethodException"
            )
        return self._ok(dict(adset))

    async def update_adset(self, request: web.Request) -> web.StreamResponse:
        adset_id = request.match_info["node"]
        adset = self.adsets.get(adset_id)
        if adset is None:
            return self._error(
                100, "Unsupported post request.", subcode=33, kind="GraphMethodException"
            )
        params = dict(request[PARAMS])
        params.pop("access_token", None)
        validate_only = "validate_only" in params.pop("execution_options", "")
        changes = {k: params[k] for k in ("daily_budget", "status", "bid_amount") if k in params}
        if "daily_budget" in changes:
            if int(changes["daily_budget"]) < self.behaviour.min_daily_budget:
                return self._error(
                    100,
                    "Invalid parameter: daily budget is too low",
                    subcode=1885272,
                    kind="OAuthException",
                )
            now = time.time()
            times = [t for t in self._budget_times.get(adset_id, []) if t > now - 3600]
            if len(times) >= self.behaviour.budget_changes_per_hour:
                return self._error(
                    17, "Ad set budget changed too often", subcode=BUDGET_LIMIT_SUBCODE
                )
            if not validate_only:
                self._budget_times[adset_id] = [*times, now]
        if validate_only:
            self.validated.append({"adset": adset_id, **changes})
            return self._ok({"success": True})
        adset.update({k: str(v) for k, v in changes.items()})
        self.writes.append({"adset": adset_id, **changes})
        if self.behaviour.commit_then_drop > 0:
            self.behaviour.commit_then_drop -= 1
            await asyncio.sleep(self.behaviour.drop_seconds)
        return self._ok({"success": True})

    async def insights(self, request: web.Request) -> web.Response:
        params = request[PARAMS]
        span = json.loads(params["time_range"])
        day = date.fromisoformat(span["since"])
        last = date.fromisoformat(span["until"])
        rows = []
        zone = ZoneInfo(self.time_zone)
        while day <= last:
            for adset_id in self.adsets:
                for hour in range(24):
                    at = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
                    since = self.collapse.get(adset_id)
                    collapsed = since is not None and at >= since
                    rows.append(hour_row(adset_id, day, hour, collapsed=collapsed))
            day += timedelta(days=1)
        return self._ok({"data": rows})

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.gate])
        app.router.add_get("/{version}/act_{account}/adsets", self.list_adsets)
        app.router.add_get("/{version}/act_{account}/insights", self.insights)
        app.router.add_get("/{version}/act_{account}", self.account_node)
        app.router.add_get("/{version}/{node}", self.get_adset)
        app.router.add_post("/{version}/{node}", self.update_adset)
        return app


def hour_row(adset_id: str, day: date, hour: int, *, collapsed: bool = False) -> dict[str, Any]:
    """The fake's insights for one ad set and hour: a known answer for the tests
    (``collapsed``: the clicks go on and nothing converts)."""
    conversions = 0 if collapsed else 10 + hour % 3
    return {
        "adset_id": adset_id,
        "date_start": day.isoformat(),
        "date_stop": day.isoformat(),
        "hourly_stats_aggregated_by_advertiser_time_zone": f"{hour:02d}:00:00 - {hour:02d}:59:59",
        "impressions": str(1000 + hour),
        "spend": f"{1.5 + hour / 100:.2f}",
        "clicks": str(200 + hour % 5),
        "actions": [{"action_type": "purchase", "value": str(conversions)}],
        "action_values": [{"action_type": "purchase", "value": f"{conversions * 25:.2f}"}],
    }


async def start(graph: MetaGraph) -> TestServer:
    server = TestServer(graph.app())
    await server.start_server()
    return server


def now_utc() -> datetime:
    return datetime.now(UTC)
