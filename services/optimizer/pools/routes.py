"""HTTP routes of budget pools, their reallocations and the campaigns' response curves."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from services.optimizer.pools.curves import fit_json, refresh_curves
from services.optimizer.pools.reallocation import (
    PoolUnusable,
    ReallocationRunning,
    compute,
    plan_json,
    reallocate,
)
from shared.connectors import ConnectorError, UnknownAccount
from shared.contracts import pools as c
from shared.contracts.spec import Route
from shared.once import once
from shared.resources import delete, fetch_one, insert, list_page, parse_list_query, update
from shared.service import ServiceRuntime
from shared.web import (
    ApiError,
    Handler,
    invalid,
    json_response,
    parse_body,
    path_id,
    unavailable,
)


def _checked(values: dict[str, Any]) -> None:
    """422 unless the shares can all hold for the pool's campaigns."""
    thresholds = c.PoolThresholds.model_validate(values["performance_thresholds"] or {})
    problems = c.pool_problems(len(values["campaign_ids"]), thresholds)
    if problems:
        raise invalid("the pool's thresholds cannot hold", problems)


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """Request values as columns: thresholds as JSON with every share spelled out."""
    out = dict(values)
    if "performance_thresholds" in out and out["performance_thresholds"] is not None:
        out["performance_thresholds"] = c.PoolThresholds.model_validate(
            out["performance_thresholds"]
        ).model_dump()
    return out


async def create_pool(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.PoolCreate)
    values = body.model_dump()
    _checked(values)
    tenant = runtime.tenant_of(request)
    values = _stored(values)
    values["remaining_budget"] = values["total_budget"]
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        conn = write.conn
        row = await insert(conn, c.BUDGET_POOLS, tenant, values)
        return write.answered(json_response(row, status=201))


async def update_pool(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    pool_id = path_id(request, c.BUDGET_POOLS.name)
    body = await parse_body(request, c.PoolUpdate)
    # A null keeps the field as it is, like a field left out.
    changes = _stored(body.model_dump(exclude_unset=True, exclude_none=True))
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await fetch_one(conn, c.BUDGET_POOLS, tenant, pool_id, lock=True)
        _checked({**current, **changes})
        if "reallocation_frequency" in changes:
            # A new rhythm starts at the next run.
            changes["next_reallocation_at"] = None
        row = await update(conn, c.BUDGET_POOLS, tenant, pool_id, changes)
        if "total_budget" in changes:
            # From the total as stored (rounded to cents), in the column's exact numbers.
            remaining = row["total_budget"] - (row["allocated_budget"] or 0)
            row = await update(
                conn, c.BUDGET_POOLS, tenant, pool_id, {"remaining_budget": remaining}
            )
    return json_response(row)


async def delete_pool(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    pool_id = path_id(request, c.BUDGET_POOLS.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        row = await delete(conn, c.BUDGET_POOLS, tenant, pool_id)
    return json_response(row)


async def reallocate_pool(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    pool_id = path_id(request, "budget pool")
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        await fetch_one(conn, c.BUDGET_POOLS, tenant, pool_id)
    try:
        row = await reallocate(
            runtime,
            tenant,
            pool_id,
            trigger="on_demand",
            correlation_id=request.get("correlation_id"),
        )
    except ReallocationRunning as exc:
        raise ApiError(
            409,
            "reallocation_running",
            "another reallocation of this pool is running; try again when it ends",
            {"pool_id": str(pool_id)},
        ) from exc
    assert row is not None
    return json_response(row, status=201)


async def list_reallocations(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    pool_id = path_id(request, "budget pool")
    query = parse_list_query(c.REALLOCATIONS, request.query)
    query.equals["pool_id"] = pool_id
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        await fetch_one(conn, c.BUDGET_POOLS, tenant, pool_id)
        page = await list_page(conn, c.REALLOCATIONS, tenant, query)
    return json_response(page)


async def simulate_pool(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    pool_id = path_id(request, "budget pool")
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        pool = await fetch_one(conn, c.BUDGET_POOLS, tenant, pool_id)
    try:
        computed = await compute(runtime, tenant, pool)
    except UnknownAccount as exc:
        raise ApiError(409, "no_ad_account", str(exc)) from exc
    except ConnectorError as exc:
        raise unavailable(f"the ad platform could not be asked: {exc}") from exc
    except PoolUnusable as exc:
        raise ApiError(409, "pool_unusable", str(exc)) from exc
    plan = plan_json(pool, computed)
    # Only what the contract shows: the stored explanation carries a little more.
    return json_response(c.ReallocationPlan.model_validate(plan).model_dump(mode="json"))


async def campaign_curve(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    campaign = path_id(request, "campaign")
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        known = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM campaign_metrics
                              WHERE tenant_id = $1 AND campaign_id = $2)
                      OR EXISTS (SELECT 1 FROM ad_campaigns
                                 WHERE tenant_id = $1 AND id = $2)""",
            tenant,
            campaign,
        )
    if not known:
        raise ApiError(404, "not_found", f"campaign {campaign} not found")
    fits = await refresh_curves(runtime, tenant, [campaign])
    answer: dict[str, Any] = {"campaign_id": campaign}
    for metric in ("conversions", "revenue"):
        fit = fits.get((campaign, metric))
        answer[metric] = fit_json(fit) if fit is not None else None
    return json_response(answer)


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.CREATE_POOL: partial(create_pool, runtime),
        c.UPDATE_POOL: partial(update_pool, runtime),
        c.DELETE_POOL: partial(delete_pool, runtime),
        c.REALLOCATE_POOL: partial(reallocate_pool, runtime),
        c.LIST_REALLOCATIONS: partial(list_reallocations, runtime),
        c.SIMULATE_POOL: partial(simulate_pool, runtime),
        c.CAMPAIGN_CURVE: partial(campaign_curve, runtime),
    }
