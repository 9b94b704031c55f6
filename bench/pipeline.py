"""How much the platform's path costs against the database alone, measured in one run.

Starts the four services on a throwaway database and exchange, then measures:

- a decision through the gateway (client-side round trip), the decision -> pending
  recommendation latency and the decision -> audit trail latency (until the gateway has
  recorded the recommendation.created event the decision led to), both by the database's
  clock, against a bare INSERT + COMMIT;
- a 1,000-row metrics batch through the gateway until the alerts service has stored it,
  against storing the same rows directly, and against the alerts handler itself
  (upsert, detection, risk) called in-process: the difference is the messaging path.

Figures are medians (and p90) over repeated runs, with ratios to the baseline measured in
the same run: this machine is shared and noisy, so absolute numbers travel badly.

    .venv/bin/python bench/pipeline.py [--runs 100] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench.harness import own_platform
from bench.report import milliseconds as _ms
from bench.report import print_figures
from sandbox.driver import to_body
from sandbox.simulator import CampaignSimulator
from services.alerts.watch import on_metrics_recorded
from shared.contracts.gateway import METRICS_RECORDED
from shared.db import create_pool, scoped
from shared.metrics_store import upsert_metrics

HOUR = timedelta(hours=1)


async def _baseline_insert(pool: Any, tenant: uuid.UUID, runs: int) -> list[float]:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        async with scoped(pool, tenant) as conn:
            await conn.execute(
                "INSERT INTO ai_decision_logs (tenant_id, decision_type) "
                "VALUES ($1, 'keyword_bid')",
                tenant,
            )
        took.append(time.perf_counter() - start)
    return took


async def _wait_rows(
    url: str, schema: str, tenant: uuid.UUID, sql: str, arg: list[Any], want: int
) -> list[Any]:
    """Poll ``sql`` in ``schema`` until it returns ``want`` rows; at most 30 s."""
    pool = await create_pool(url, schema, min_size=1, max_size=1)
    try:
        deadline = time.monotonic() + 30
        while True:
            async with scoped(pool, tenant) as conn:
                rows = await conn.fetch(sql, arg)
            if len(rows) == want:
                return rows
            if time.monotonic() > deadline:
                # A median over the rows that made it in time would flatter the pipeline.
                raise RuntimeError(f"{schema}: {len(rows)} of {want} rows within 30 s")
            await asyncio.sleep(0.1)
    finally:
        await pool.close()


async def _decisions(
    api: aiohttp.ClientSession, url: str, decision: Any, tenant: uuid.UUID, runs: int
) -> tuple[list[float], list[float], list[float]]:
    round_trips, ids, correlations = [], [], []
    body = {
        "decision_type": "keyword_bid",
        "action_taken": "lower_bid",
        "confidence_score": 70,
        "context_data": {"campaign_id": str(uuid.uuid4())},
    }
    for _ in range(runs):
        start = time.perf_counter()
        async with api.post("/api/ai/decisions", json=body) as r:
            assert r.status == 201, await r.text()
            ids.append(uuid.UUID((await r.json())["id"]))
            correlations.append(uuid.UUID(r.headers["X-Correlation-Id"]))
        round_trips.append(time.perf_counter() - start)
    made = await _wait_rows(
        url,
        "optimizer",
        tenant,
        "SELECT source_decision_id, created_at FROM ai_recommendations "
        "WHERE source_decision_id = ANY($1::uuid[])",
        ids,
        len(ids),
    )
    # The last link of the chain: the gateway auditing the recommendation.created event
    # that the decision's decision.made event caused (one correlation id throughout).
    audited = await _wait_rows(
        url,
        "gateway",
        tenant,
        "SELECT correlation_id, created_at FROM ai_audit_trail "
        "WHERE correlation_id = ANY($1::uuid[]) AND action = 'recommendation.created'",
        correlations,
        len(correlations),
    )
    async with scoped(decision, tenant) as conn:
        decided = {
            r["id"]: r["created_at"]
            for r in await conn.fetch(
                "SELECT id, created_at FROM ai_decision_logs WHERE id = ANY($1::uuid[])", ids
            )
        }
    by_correlation = dict(zip(correlations, ids, strict=True))
    pipeline = [(r["created_at"] - decided[r["source_decision_id"]]).total_seconds() for r in made]
    audit = [
        (r["created_at"] - decided[by_correlation[r["correlation_id"]]]).total_seconds()
        for r in audited
    ]
    return round_trips, pipeline, audit


def _batches(runs: int) -> list[list[Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sim = CampaignSimulator(40, seed=3, start=start)
    # 40 campaigns x 25 hours = 1,000 rows per batch, every batch new hours.
    return [
        [row for h in range(i * 25, (i + 1) * 25) for row in sim.simulate_hour(start + h * HOUR)]
        for i in range(runs)
    ]


async def _ingest(
    api: aiohttp.ClientSession, alerts: Any, tenant: uuid.UUID, batches: list[list[Any]]
) -> list[float]:
    took = []
    for rows in batches:
        hours = sorted({r.hour for r in rows})
        start = time.perf_counter()
        async with api.post("/api/ai/metrics", json=to_body(rows)) as r:
            assert r.status == 202, await r.text()
        while True:
            async with scoped(alerts, tenant) as conn:
                stored = await conn.fetchval(
                    "SELECT count(*) FROM campaign_metrics WHERE tenant_id = $1 "
                    "AND hour BETWEEN $2 AND $3",
                    tenant,
                    hours[0],
                    hours[-1],
                )
            if stored == len(rows):
                break
            await asyncio.sleep(0.005)
        took.append(time.perf_counter() - start)
    return took


async def _baseline_ingest(alerts: Any, batches: list[list[Any]], *, detect: bool) -> list[float]:
    """The same batches stored directly: only the upsert, or the alerts service's whole
    handler (upsert, detection, risk) called in-process without HTTP, outbox or broker."""
    took = []
    scratch = uuid.uuid4()
    for rows in batches:
        start = time.perf_counter()
        async with scoped(alerts, scratch) as conn:
            if detect:
                # The handler as the consumer calls it: the payload parsed to its model.
                event = METRICS_RECORDED.envelope(to_body(rows), tenant_id=scratch, source="bench")
                await on_metrics_recorded(conn, event, METRICS_RECORDED.parse(event))
            else:
                await upsert_metrics(conn, scratch, rows)
        took.append(time.perf_counter() - start)
    return took


async def main(runs: int, as_json: bool) -> int:
    async with own_platform("bench") as bench:
        url, tenant = bench.settings.database_url, bench.tenant
        decision = await create_pool(url, "decision", min_size=1, max_size=2)
        alerts = await create_pool(url, "alerts", min_size=1, max_size=2)
        headers = bench.headers("operator")
        try:
            async with aiohttp.ClientSession(
                base_url=bench.platform.gateway, headers=headers
            ) as api:
                insert = _ms(await _baseline_insert(decision, tenant, runs))
                trips, pipeline, audit = await _decisions(api, url, decision, tenant, runs)
                batches = _batches(max(5, runs // 10))
                ingest = _ms(await _ingest(api, alerts, tenant, batches))
                direct = _ms(await _baseline_ingest(alerts, batches, detect=False))
                handler = _ms(await _baseline_ingest(alerts, batches, detect=True))
        finally:
            await decision.close()
            await alerts.close()
    trip, flow, audited = _ms(trips), _ms(pipeline), _ms(audit)
    figures = {
        "runs": runs,
        "baseline_insert_commit_ms_median": insert["median"],
        "decision_round_trip_ms_median": trip["median"],
        "decision_round_trip_ms_p90": trip["p90"],
        "decision_round_trip_ratio": round(trip["median"] / insert["median"], 2),
        "decision_to_recommendation_ms_median": flow["median"],
        "decision_to_recommendation_ms_p90": flow["p90"],
        "decision_to_recommendation_ratio": round(flow["median"] / insert["median"], 2),
        "decision_to_audit_ms_median": audited["median"],
        "decision_to_audit_ms_p90": audited["p90"],
        "decision_to_audit_ratio": round(audited["median"] / insert["median"], 2),
        "baseline_upsert_1000_rows_ms_median": direct["median"],
        "baseline_handler_1000_rows_ms_median": handler["median"],
        "metrics_1000_rows_to_stored_ms_median": ingest["median"],
        "metrics_1000_rows_to_stored_ms_p90": ingest["p90"],
        "metrics_ingest_ratio_to_upsert": round(ingest["median"] / direct["median"], 2),
        "metrics_ingest_ratio_to_handler": round(ingest["median"] / handler["median"], 2),
    }
    print_figures(figures, as_json)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.json)))
