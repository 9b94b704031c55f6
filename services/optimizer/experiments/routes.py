"""HTTP routes of experiments: plan, start, record results, analyse, conclude."""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from services.optimizer.core.execution import carry_out
from services.optimizer.core.platform import CORRELATION, connector_for
from services.optimizer.experiments import plan
from services.optimizer.experiments.store import (
    conclude,
    latest_results,
    lock_experiment,
    record_results,
)
from shared.connectors import ChangeRefused, ConnectorError, ExperimentArm, UnknownAccount
from shared.contracts import experiments as c
from shared.contracts.spec import Route
from shared.once import once
from shared.outbox import enqueue
from shared.resources import change_status, delete, fetch_one, insert, update
from shared.service import ServiceRuntime
from shared.web import (
    ApiError,
    Handler,
    invalid,
    json_response,
    parse_body,
    path_id,
    validation_fields,
)

_AUTO = ("auto_conclude", "auto_apply")


def _columns(body: c.ExperimentCreate) -> dict[str, Any]:
    """The table's columns for a checked plan; 422 if its sample size cannot be worked out."""
    variants = [v.model_dump(exclude_none=True) for v in body.variants]
    values: dict[str, Any] = {name: getattr(body, name) for name in c.PLANNING_FIELDS}
    values["traffic_split"] = plan.normalised_split(body.traffic_split, len(variants))
    values["variant_configs"] = variants
    values["control_group_config"] = variants[0]
    values["test_configuration"] = {
        **body.test_configuration,
        "auto_conclude": body.auto_conclude,
        "auto_apply": body.auto_apply,
    }
    try:
        values["sample_size_calculation"] = plan.sample_plan(values)
    except (ValueError, ArithmeticError) as exc:
        raise invalid(
            "the sample size cannot be planned",
            [{"field": "minimum_detectable_effect", "message": str(exc)}],
        ) from exc
    return values


def _as_request(row: dict[str, Any]) -> dict[str, Any]:
    """A stored experiment as the create body that would make it."""
    config = row["test_configuration"] if isinstance(row["test_configuration"], dict) else {}
    body = {name: row[name] for name in c.PLANNING_FIELDS}
    for name in ("minimum_detectable_effect", "statistical_significance_threshold"):
        if body[name] is not None:
            body[name] = float(body[name])
    body["variants"] = row["variant_configs"]
    body.update({k: config[k] for k in _AUTO if k in config})
    body["test_configuration"] = {k: v for k, v in config.items() if k not in _AUTO}
    return {k: v for k, v in body.items() if v is not None}


def _arms(row: dict[str, Any]) -> list[ExperimentArm]:
    variants = row["variant_configs"]
    split = plan.normalised_split(row["traffic_split"], len(variants))
    return [
        ExperimentArm(str(v["name"]), share, dict(v.get("config") or {}))
        for v, share in zip(variants, split, strict=True)
    ]


def _on_platform(row: dict[str, Any]) -> bool:
    return row["campaign_id"] is not None and row["experiment_type"] == "creative"


def _campaign_busy(campaign_id: UUID, other: UUID | None) -> ApiError:
    details = {"campaign_id": str(campaign_id)}
    if other is not None:
        details["experiment_id"] = str(other)
    return ApiError(
        409,
        "experiment_running",
        "another experiment is collecting results on this campaign",
        details,
    )


async def create(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    body = await parse_body(request, c.ExperimentCreate)
    tenant = runtime.tenant_of(request)
    values = _columns(body)
    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        conn = write.conn
        row = await insert(conn, c.EXPERIMENTS, tenant, values)
        return write.answered(json_response(row, status=201))


async def update_experiment(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    experiment_id = path_id(request, c.EXPERIMENTS.name)
    changes = (await parse_body(request, c.ExperimentUpdate)).model_dump(exclude_unset=True)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await lock_experiment(conn, tenant, experiment_id)
        c.EXPERIMENT_LIFECYCLE.require("change", current["status"], ["planning"])
        merged = {**_as_request(current), **changes}
        if "variants" in changes and "traffic_split" not in changes:
            merged.pop("traffic_split", None)
        try:
            body = c.ExperimentCreate.model_validate(merged)
        except ValidationError as exc:
            raise invalid("the experiment is invalid", validation_fields(exc)) from exc
        row = await update(conn, c.EXPERIMENTS, tenant, experiment_id, _columns(body))
    return json_response(row)


async def delete_experiment(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    experiment_id = path_id(request, c.EXPERIMENTS.name)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await lock_experiment(conn, tenant, experiment_id)
        c.EXPERIMENT_LIFECYCLE.require("delete", current["status"], ["planning"])
        row = await delete(conn, c.EXPERIMENTS, tenant, experiment_id)
    return json_response(row)


async def start(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    experiment_id = path_id(request, "experiment")
    tenant = runtime.tenant_of(request)
    on_platform = False
    async with runtime.tenant_tx(tenant) as conn:
        current = await fetch_one(conn, c.EXPERIMENTS, tenant, experiment_id)
        c.EXPERIMENT_LIFECYCLE.next_status("start", current["status"])
        on_platform = _on_platform(current)
        if on_platform:
            # Asked before the platform is: a split started there for an experiment
            # that cannot be marked running here would run untracked.
            busy = await conn.fetchval(
                """SELECT id FROM ai_testing_experiments
                   WHERE tenant_id = $1 AND campaign_id = $2 AND on_platform
                     AND status IN ('running', 'analyzing')""",
                tenant,
                current["campaign_id"],
            )
            if busy is not None:
                raise _campaign_busy(current["campaign_id"], busy)
    if on_platform:
        # Sent again with the same id the platform answers the same experiment, so a
        # start that fails after this call can simply be asked for again.
        token = CORRELATION.set(request.get("correlation_id"))
        try:
            await (await connector_for(runtime, tenant)).start_experiment(
                tenant, current["campaign_id"], experiment_id, _arms(current)
            )
        except ChangeRefused as exc:
            status = 422 if exc.code.startswith("invalid") else 409
            raise ApiError(
                status,
                "platform_refused",
                f"the ad platform refused: {exc.message}",
                {"platform_code": exc.code},
            ) from exc
        except UnknownAccount as exc:
            raise ApiError(409, "unknown_account", str(exc)) from exc
        except ConnectorError as exc:
            raise ApiError(
                502, "platform_unavailable", f"the ad platform could not be reached: {exc}"
            ) from exc
        finally:
            CORRELATION.reset(token)
    try:
        async with runtime.tenant_tx(tenant) as conn:
            started = await _mark_started(
                runtime, conn, request, tenant, experiment_id, on_platform
            )
    except asyncpg.UniqueViolationError as exc:
        raise _campaign_busy(current["campaign_id"], None) from exc
    return json_response(started)


async def _mark_started(
    runtime: ServiceRuntime,
    conn: asyncpg.Connection,
    request: web.Request,
    tenant: UUID,
    experiment_id: UUID,
    on_platform: bool,
) -> dict[str, Any]:
    started = await change_status(
        conn,
        c.EXPERIMENTS,
        tenant,
        experiment_id,
        c.EXPERIMENT_LIFECYCLE,
        "start",
        also={"on_platform": on_platform},
    )
    payload = {**started.after, "before": {"status": started.before["status"]}}
    await enqueue(conn, runtime.event(request, c.EXPERIMENT_STARTED, payload, tenant))
    return started.after


async def results(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    experiment_id = path_id(request, "experiment")
    body = await parse_body(request, c.ResultsSubmit)
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await lock_experiment(conn, tenant, experiment_id)
        c.EXPERIMENT_LIFECYCLE.require("record results of", current["status"], c.COLLECTING)
        names = plan.variant_names(current["variant_configs"])
        submitted = [v.model_dump() for v in body.variants]
        try:
            data = plan.variant_data(submitted, names, current["metric_kind"])
            row = await record_results(conn, tenant, current, data, source="manual")
        except plan.ResultsInvalid as exc:
            raise invalid("the results do not fit the experiment", exc.fields) from exc
        except (ValueError, ArithmeticError) as exc:
            raise invalid(
                "the results cannot be analysed", [{"field": "variants", "message": str(exc)}]
            ) from exc
    return json_response(row, status=201)


async def list_results(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    experiment_id = path_id(request, "experiment")
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        await fetch_one(conn, c.EXPERIMENTS, tenant, experiment_id)
        rows = await conn.fetch(
            f"""SELECT {c.EXPERIMENT_RESULTS.select_list} FROM experiment_results
                WHERE tenant_id = $1 AND experiment_id = $2 ORDER BY look DESC LIMIT 1000""",
            tenant,
            experiment_id,
        )
    return json_response({"items": [dict(r) for r in rows], "next_cursor": None})


async def analyze(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    experiment_id = path_id(request, "experiment")
    body = (
        await parse_body(request, c.AnalyzeRequest) if await request.read() else c.AnalyzeRequest()
    )
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await fetch_one(conn, c.EXPERIMENTS, tenant, experiment_id)
        c.EXPERIMENT_LIFECYCLE.require("analyze", current["status"], c.ANALYSABLE)
        newest = await latest_results(conn, tenant, experiment_id)
    if newest is None:
        raise ApiError(
            409,
            "no_results",
            "the experiment has no results yet",
            {"status": current["status"]},
        )
    setup = plan.Setup.of(current)
    names = plan.variant_names(current["variant_configs"])
    try:
        data = plan.variant_data(newest["variants"], names, current["metric_kind"])
        analysis = plan.run_analysis(data, setup, sequential=body.sequential)
    except (ValueError, ArithmeticError) as exc:
        # Results recorded before the variants were what they are now.
        raise ApiError(
            409, "results_unusable", f"the latest results cannot be analysed: {exc}"
        ) from exc
    return json_response(
        plan.analysis_json(experiment_id, int(newest["look"]), analysis, data, setup)
    )


async def conclude_route(runtime: ServiceRuntime, request: web.Request) -> web.Response:
    experiment_id = path_id(request, "experiment")
    body = (
        await parse_body(request, c.ConcludeRequest)
        if await request.read()
        else c.ConcludeRequest()
    )
    given = "winner_variant" in body.model_fields_set
    tenant = runtime.tenant_of(request)
    async with runtime.tenant_tx(tenant) as conn:
        current = await lock_experiment(conn, tenant, experiment_id)
        c.EXPERIMENT_LIFECYCLE.next_status("conclude", current["status"])
        names = plan.variant_names(current["variant_configs"])
        if given and body.winner_variant is not None and body.winner_variant not in names:
            raise invalid(
                "unknown variant",
                [
                    {
                        "field": "winner_variant",
                        "message": f"the experiment has {', '.join(names)}",
                    }
                ],
            )
        newest = await latest_results(conn, tenant, experiment_id)
        analysed = (newest or {}).get("analysis") or {}
        winner = body.winner_variant if given else analysed.get("winner_variant")
        done = await conclude(
            conn,
            runtime,
            tenant,
            current,
            winner=winner,
            chosen_by="person",
            rule=None,
            detail=("a person named the winner" if given else "a person concluded on the analysis"),
            apply=body.apply,
            correlation_id=request.get("correlation_id"),
        )
    if done.pending_optimization is not None:
        await carry_out(runtime, tenant, done.pending_optimization, wait=True)
        async with runtime.tenant_tx(tenant) as conn:
            return json_response(await fetch_one(conn, c.EXPERIMENTS, tenant, experiment_id))
    return json_response(done.row)


def routes(runtime: ServiceRuntime) -> dict[Route, Handler]:
    return {
        c.CREATE_EXPERIMENT: partial(create, runtime),
        c.UPDATE_EXPERIMENT: partial(update_experiment, runtime),
        c.DELETE_EXPERIMENT: partial(delete_experiment, runtime),
        c.START_EXPERIMENT: partial(start, runtime),
        c.RECORD_RESULTS: partial(results, runtime),
        c.LIST_RESULTS: partial(list_results, runtime),
        c.ANALYZE_EXPERIMENT: partial(analyze, runtime),
        c.CONCLUDE_EXPERIMENT: partial(conclude_route, runtime),
    }
