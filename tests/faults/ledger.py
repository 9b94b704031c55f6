"""A stream of metrics and decisions driven through the gateway, the ledger of what the
gateway accepted, and the audit that holds the database and the ad platform to it.

The stream behaves as a careful client would: every POST carries an ``Idempotency-Key``,
and a request that failed or went unanswered is sent again with the same key and body
until the gateway accepts it. Each decision names its key in its context, so the audit
finds the rows each logical request produced: exactly one each, whatever the faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import aiohttp
import asyncpg

from tests.e2e.test_act import Account

# Answers after which the request is sent again with the same key: the platform was busy,
# away, or the answer was lost; or (409) an earlier attempt with the key is still being
# answered, after a client gave up waiting for it. Anything else (a 4xx) means the request
# itself is wrong.
RETRIED = frozenset({401, 409, 429, 500, 502, 503, 504})


@dataclass
class Request:
    """One logical request and every attempt made to get it accepted."""

    key: str
    path: str
    body: dict[str, Any]
    attempts: list[str] = field(default_factory=list)
    accepted: dict[str, Any] | None = None


@dataclass
class Ledger:
    """What the gateway accepted, kept by the client, independent of the platform."""

    decisions: list[Request] = field(default_factory=list)
    metrics: dict[tuple[UUID, datetime], int] = field(default_factory=dict)  # -> clicks
    pending_metrics: list[Request] = field(default_factory=list)

    @property
    def accepted_decisions(self) -> list[Request]:
        return [r for r in self.decisions if r.accepted is not None]

    def answers(self) -> Counter[str]:
        """Every answer seen, by status (or error name), over all attempts."""
        return Counter(a for r in [*self.decisions, *self.pending_metrics] for a in r.attempts)


class Stream:
    """Decisions (budget changes the optimizer applies on the sandbox) and hourly metrics,
    ``rate`` requests a second, round-robin over the account's campaigns."""

    def __init__(
        self, gateway: str, account: Account, ledger: Ledger, *, rate: float = 8.0
    ) -> None:
        self.gateway = gateway
        self.account = account
        self.ledger = ledger
        self.rate = rate
        self.budgets: dict[UUID, float] = {}
        self._metric_campaign = uuid4()  # not on the sandbox: its figures stay ours
        self._hours = itertools.count()
        self._turn = itertools.count()
        self._stop = asyncio.Event()
        self._drained = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for campaign in self.account.campaigns:
            self.budgets[campaign] = (await self.account.platform_campaign(campaign))[
                "daily_budget"
            ]
        self._runner = asyncio.create_task(self._run())

    async def accepted(self, count: int, within: float = 60.0) -> None:
        """Wait until the gateway has accepted ``count`` decisions in all."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self.ledger.accepted_decisions) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"{len(self.ledger.accepted_decisions)} of {count} decisions accepted "
                    f"within {within:g}s; answers: {dict(self.ledger.answers())}"
                )
            await asyncio.sleep(0.1)

    async def stop(self, within: float = 120.0) -> None:
        """Send nothing new; wait until every request sent is accepted (or give up)."""
        self._stop.set()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=within)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._drained.set()
        if self._runner is not None:
            await self._runner

    async def _run(self) -> None:
        async with aiohttp.ClientSession(
            base_url=self.gateway,
            headers=self.account.tenant.headers("admin"),
            timeout=aiohttp.ClientTimeout(total=15),
        ) as session:
            while not self._stop.is_set():
                turn = next(self._turn)
                request = self._metrics() if turn % 4 == 3 else self._decision(turn)
                task = asyncio.create_task(self._send(session, request))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 1 / self.rate)
            # In-flight requests keep the session until stop() is done waiting for them.
            await self._drained.wait()

    def _decision(self, turn: int) -> Request:
        campaigns = self.account.campaigns
        campaign = campaigns[turn % len(campaigns)]
        # Up and down around where the campaign started, within every limit.
        share = 0.9 + 0.02 * ((turn // len(campaigns)) % 10)
        key = str(uuid4())
        request = Request(
            key,
            "/api/ai/decisions",
            {
                "decision_type": "budget_adjustment",
                "context_data": {
                    "campaign_id": str(campaign),
                    "action": {"kind": "budget", "to": round(self.budgets[campaign] * share, 2)},
                    "ledger_key": key,
                },
                "decision_rationale": "fault suite",
                "confidence_score": 100.0,
                "action_taken": "budget_change",
            },
        )
        self.ledger.decisions.append(request)
        return request

    def _metrics(self) -> Request:
        hour = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=next(self._hours))
        clicks = 40 + len(self.ledger.pending_metrics) % 7
        row = {
            "campaign_id": str(self._metric_campaign),
            "hour": hour.isoformat(),
            "impressions": 1000,
            "clicks": clicks,
            "conversions": 4,
            "spend": 50.0,
            "revenue": 200.0,
            "budget": 1200.0,
        }
        request = Request(str(uuid4()), "/api/ai/metrics", {"metrics": [row]})
        self.ledger.pending_metrics.append(request)
        return request

    async def _send(self, session: aiohttp.ClientSession, request: Request) -> None:
        backoff = 0.2
        while True:
            retry_after: float | None = None
            try:
                async with session.post(
                    request.path, json=request.body, headers={"Idempotency-Key": request.key}
                ) as r:
                    request.attempts.append(str(r.status))
                    if r.status in (201, 202):
                        request.accepted = await r.json()
                        self._record(request)
                        return
                    if r.status not in RETRIED:
                        raise AssertionError(f"{request.path} refused: {await r.text()}")
                    with contextlib.suppress(ValueError, TypeError):
                        retry_after = float(r.headers.get("Retry-After", ""))
            except (aiohttp.ClientError, TimeoutError) as exc:
                request.attempts.append(exc.__class__.__name__)
            await asyncio.sleep(min(retry_after or backoff, 2.0))
            backoff = min(backoff * 2, 2.0)

    def _record(self, request: Request) -> None:
        if request.path.endswith("/metrics"):
            [row] = request.body["metrics"]
            hour = datetime.fromisoformat(row["hour"])
            self.ledger.metrics[(UUID(row["campaign_id"]), hour)] = row["clicks"]


# --- the audit ------------------------------------------------------------------------


@dataclass
class Audit:
    """The ledger against the database and the sandbox's change log. Each list names what
    broke a guarantee; all empty means nothing was lost and nothing happened twice."""

    lost_decisions: list[str] = field(default_factory=list)
    doubled_decisions: dict[str, int] = field(default_factory=dict)
    without_outcome: list[str] = field(default_factory=list)
    unaudited_decisions: list[str] = field(default_factory=list)
    events_audited_twice: dict[str, int] = field(default_factory=dict)
    changes_per_decision_over_one: dict[str, int] = field(default_factory=dict)
    pending_changes: list[str] = field(default_factory=list)
    change_ids_twice_on_platform: dict[str, int] = field(default_factory=dict)
    applied_not_on_platform: list[str] = field(default_factory=list)
    on_platform_not_recorded: list[str] = field(default_factory=list)
    lost_metrics: list[str] = field(default_factory=list)
    # Not failures: what the faults made the platform and the client do.
    applied: int = 0
    replays: int = 0
    accepted: int = 0
    sent_but_unaccepted: int = 0

    def problems(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in vars(self).items()
            if name not in {"applied", "replays", "accepted", "sent_but_unaccepted"} and value
        }

    def summary(self) -> str:
        return (
            f"{self.accepted} decisions accepted, {self.applied} changes applied, "
            f"{self.replays} replays absorbed by the platform, "
            f"{self.sent_but_unaccepted} sent but never accepted"
        )


async def audit(ledger: Ledger, database_url: str, account: Account) -> Audit:
    tenant = account.tenant.id
    accepted = ledger.accepted_decisions
    keys = [r.key for r in accepted]
    report = Audit(
        accepted=len(accepted),
        sent_but_unaccepted=len(ledger.decisions) - len(accepted),
    )
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT id, context_data->>'ledger_key' AS key, outcome
               FROM decision.ai_decision_logs
               WHERE tenant_id = $1 AND context_data->>'ledger_key' = ANY($2::text[])""",
            tenant,
            keys,
        )
        per_key = Counter(r["key"] for r in rows)
        report.lost_decisions = [k for k in keys if per_key[k] == 0]
        report.doubled_decisions = {k: n for k, n in per_key.items() if n > 1}
        report.without_outcome = [str(r["id"]) for r in rows if r["outcome"] is None]
        ids = [r["id"] for r in rows]
        # One audit entry per event: the same event delivered again adds none. (The same
        # decision published again under a new event id is another event on the bus.)
        entries = await conn.fetch(
            """SELECT resource_id, event_id FROM gateway.ai_audit_trail
               WHERE tenant_id = $1 AND event_type = 'decision.made'
                 AND resource_id = ANY($2::text[])""",
            tenant,
            [str(i) for i in ids],
        )
        per_decision_audit = Counter(e["resource_id"] for e in entries)
        per_event = Counter(e["event_id"] for e in entries)
        report.unaudited_decisions = [str(i) for i in ids if per_decision_audit[str(i)] == 0]
        report.events_audited_twice = {str(e): n for e, n in per_event.items() if n > 1}
        changes = await conn.fetch(
            """SELECT id, decision_id, change_id, status FROM optimizer.ai_optimization_history
               WHERE tenant_id = $1""",
            tenant,
        )
    finally:
        await conn.close()
    per_decision = Counter(c["decision_id"] for c in changes if c["decision_id"] is not None)
    report.changes_per_decision_over_one = {str(d): n for d, n in per_decision.items() if n > 1}
    report.pending_changes = [str(c["id"]) for c in changes if c["status"] == "pending"]
    applied = {str(c["change_id"]) for c in changes if c["status"] == "applied"}
    report.applied = len(applied)
    on_platform = await account.platform_changes()
    times = Counter(c["change_id"] for c in on_platform)
    report.change_ids_twice_on_platform = {c: n for c, n in times.items() if n > 1}
    report.applied_not_on_platform = sorted(applied - set(times))
    recorded = {str(c["change_id"]) for c in changes}
    report.on_platform_not_recorded = sorted(set(times) - recorded)
    report.replays = sum(int(c.get("replays", 0)) for c in on_platform)
    report.lost_metrics = await _lost_metrics(ledger, database_url, tenant)
    return report


async def _lost_metrics(ledger: Ledger, database_url: str, tenant: UUID) -> list[str]:
    """Accepted hours missing, or with other figures, in any service's copy."""
    if not ledger.metrics:
        return []
    lost = []
    conn = await asyncpg.connect(database_url)
    try:
        for schema in ("alerts", "decision", "optimizer"):
            stored = {
                (r["campaign_id"], r["hour"]): r["clicks"]
                for r in await conn.fetch(
                    f"SELECT campaign_id, hour, clicks FROM {schema}.campaign_metrics "
                    "WHERE tenant_id = $1",
                    tenant,
                )
            }
            lost += [
                f"{schema}: {campaign} {hour.isoformat()}"
                for (campaign, hour), clicks in ledger.metrics.items()
                if stored.get((campaign, hour)) != clicks
            ]
    finally:
        await conn.close()
    return lost


async def settled_audit(
    ledger: Ledger, database_url: str, account: Account, within: float = 90.0
) -> Audit:
    """The audit once the platform has caught up: every accepted decision stored with its
    outcome, no change in flight, every accepted metric stored; or the last audit taken
    when ``within`` runs out, which then names what is missing."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        report = await audit(ledger, database_url, account)
        caught_up = not (
            report.lost_decisions
            or report.without_outcome
            or report.pending_changes
            or report.lost_metrics
            or report.unaudited_decisions
        )
        if caught_up or asyncio.get_running_loop().time() > deadline:
            return report
        await asyncio.sleep(0.5)
