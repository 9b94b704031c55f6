"""HTTP routes of benchmarks and of a campaign's tiers against them."""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

from aiohttp import web

from services.optimizer.benchmarks.compare import applicable, comparisons
from services.optimizer.benchmarks.percentiles import metric_values
from services.optimizer.benchmarks.runner import refresh_own_history
from services.optimizer.benchmarks.store import campaign_known, rows_of
from services.optimizer.core.tenants import tenant_industry
from shared.contracts import benchmarks as c
from shared.contracts.spec import Route
from shared.errors import Conflict, NotFound
from shared.once import once
from shared.pagination import encode_cursor
from shared.resources import (
    ListQuery,
    delete,
    fetch_one,
    insert,
    list_page,
    parse_list_query,
    update,
)
from shared.service import ServiceRuntime
from shared.web import Handler, invalid, json_response, parse_body, path_id


def _checked(values: dict[str, Any]) -> None:
    """422 unless the percentiles and the period can stand as a whole."""
    problems = c.percentile_problems(values)
    start, end = values.get("period_start"), values.get("period_end")
    if start and end and end < start:
        problems.append({"field": "period_end", "message": "period_end is before period_start"})
    if problems:
        raise invalid("the benchmark cannot stand", problems)


async def list_benchmarks(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    """The tenant's own rows and the shared ones, merged newest first under one cursor."""
    query = parse_list_query(c.BENCHMARKS, request.query)
    tenant = runtime.tenant_of(request)
    system = runtime.settings.default_tenant
    async with runtime.tenant_tx(tenant) as conn:
        own = await list_page(conn, c.BENCHMARKS, tenant, query)
    rows = own["items"]
    more = own["next_cursor"] is not None
    if tenant != system:
        shared_query = ListQuery(query.limit, query.after, {**query.equals, "shared": True})
        async with runtime.tenant_tx(system) as conn:
            shared = await list_page(conn, c.BENCHMARKS, system, shared_query)
        rows = rows + shared["items"]
        more = more or shared["next_cursor"] is not None
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    items = rows[: query.limit]
    more = more or len(rows) > query.limit
    cursor = encode_cursor(items[-1]["created_at"], items[-1]["id"]) if more and items else None
    return json_response({"items": items, "next_cursor": cursor})


async def _shared_row(runtime: ServiceRuntime, id_: UUID) -> dict[str, Any] | None:
    system = runtime.settings.default_tenant
    async with runtime.tenant_tx(system) as conn:
        try:
            row = await fetch_one(conn, c.BENCHMARKS, system, id_)
        except NotFound:
            return None
    return row if row["shared"] else None


async def get_benchmark(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    id_ = path_id(request, c.BENCHMARKS.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        try:
            return json_response(await fetch_one(conn, c.BENCHMARKS, tenant, id_))
        except NotFound:
            pass
    row = await _shared_row(runtime, id_)
    if row is None:
        raise NotFound(c.BENCHMARKS.name, id_)
    return json_response(row)


def _refuse_read_only(row: dict[str, Any]) -> None:
    if row["shared"] or row["source_kind"] != "published":
        raise Conflict(
            "read_only_benchmark",
            f"benchmark {row['id']} is a {'shipped ' if row['shared'] else ''}"
            f"{row['source_kind']} row; only the tenant's own published rows can be changed",
            {"source_kind": row["source_kind"], "shared": row["shared"]},
        )


async def _not_own(runtime: ServiceRuntime, id_: UUID) -> NotFound:
    """A row the tenant does not have: 409 if it is a shared one, else 404."""
    shared = await _shared_row(runtime, id_)
    if shared is not None:
        _refuse_read_only(shared)
    return NotFound(c.BENCHMARKS.name, id_)


async def create_benchmark(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.BenchmarkCreate)
    values = body.model_dump()
    _checked(values)
    tenant = runtime.tenant_of(request)
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        row = await insert(write.conn, c.BENCHMARKS, tenant, {**values, "source_kind": "published"})
        return write.answered(json_response(row, status=201))


async def update_benchmark(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    id_ = path_id(request, c.BENCHMARKS.name)
    body = await parse_body(request, c.BenchmarkUpdate)
    changes = body.model_dump(exclude_unset=True)
    nulled = [name for name in c.REQUIRED_FIELDS if name in changes and changes[name] is None]
    if nulled:
        raise invalid(
            "the benchmark cannot stand",
            [{"field": name, "message": "cannot be null"} for name in nulled],
        )
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        try:
            current = await fetch_one(conn, c.BENCHMARKS, tenant, id_, lock=True)
        except NotFound:
            current = None
        if current is not None:
            _refuse_read_only(current)
            _checked({**current, **changes})
            return json_response(await update(conn, c.BENCHMARKS, tenant, id_, changes))
    raise await _not_own(runtime, id_)


async def delete_benchmark(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    id_ = path_id(request, c.BENCHMARKS.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        try:
            current = await fetch_one(conn, c.BENCHMARKS, tenant, id_, lock=True)
        except NotFound:
            current = None
        if current is not None:
            _refuse_read_only(current)
            return json_response(await delete(conn, c.BENCHMARKS, tenant, id_))
    raise await _not_own(runtime, id_)


async def campaign_benchmarks(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    campaign = path_id(request, "campaign")
    tenant = runtime.tenant_of(request)
    system = runtime.settings.default_tenant
    async with runtime.tenant_tx(tenant) as conn:
        if not await campaign_known(conn, tenant, campaign):
            raise NotFound("campaign", campaign)
        industry = await tenant_industry(conn, tenant)
        as_of, totals, own_history = await refresh_own_history(conn, tenant)
        industries = [industry or "all", "all"]
        own = await rows_of(conn, tenant, kinds=("published",), industries=industries)
    async with runtime.tenant_tx(system) as conn:
        shared = await rows_of(
            conn,
            system,
            kinds=("published", "peer_pool"),
            industries=industries,
            shared_only=True,
        )
    # A pool of "all" tenants is not a peer pool: only the tenant's industry's counts.
    peers = [r for r in shared if r["source_kind"] != "peer_pool" or r["industry"] == industry]
    values = (
        metric_values(totals[campaign]) if campaign in totals else dict.fromkeys(c.HIGHER_IS_BETTER)
    )
    chosen = applicable([*own, *own_history, *peers], industry)
    return json_response(
        {
            "campaign_id": campaign,
            "industry": industry,
            "as_of": as_of,
            "window_days": c.HISTORY_DAYS,
            "values": values,
            "comparisons": comparisons(values, chosen),
        }
    )


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.LIST_BENCHMARKS: partial(list_benchmarks, runtime),
        c.GET_BENCHMARK: partial(get_benchmark, runtime),
        c.CREATE_BENCHMARK: partial(create_benchmark, runtime),
        c.UPDATE_BENCHMARK: partial(update_benchmark, runtime),
        c.DELETE_BENCHMARK: partial(delete_benchmark, runtime),
        c.CAMPAIGN_BENCHMARKS: partial(campaign_benchmarks, runtime),
    }
