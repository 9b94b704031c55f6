"""Domain errors at the edge: each kind answers with its status in the API's one error
shape, before any middleware around the handler sees it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.contracts.experiments import EXPERIMENT_LIFECYCLE
from shared.contracts.spec import InvalidTransition
from shared.errors import Conflict, DomainError, Invalid, NotFound, UpstreamFailed
from shared.resources import Resource
from shared.schemas import ResponseModel
from shared.web import ApiError, Handler, api_error, domain_error_middleware, error_middleware


@pytest.mark.parametrize(
    ("error", "status", "code", "details"),
    [
        (NotFound("budget pool", "x"), 404, "not_found", {}),
        (Invalid("bad", [{"field": "a", "message": "m"}]), 422, "validation_error", None),
        (Conflict("in_flight", "busy", {"optimization_id": "o"}), 409, "in_flight", None),
        (UpstreamFailed("platform_unavailable", "away"), 502, "platform_unavailable", {}),
        (InvalidTransition("an alert", "resolve", "dismissed"), 409, "invalid_transition", None),
    ],
)
def test_each_kind_has_its_status(
    error: DomainError, status: int, code: str, details: dict[str, Any] | None
) -> None:
    answered = api_error(error)
    assert (answered.status, answered.code, answered.message) == (status, code, error.message)
    assert answered.details == (error.details if details is None else details)


def test_a_refused_status_says_what_it_is_and_what_would_do() -> None:
    """The shapes the API has always answered a refused transition with."""
    moving = api_error(InvalidTransition("an alert", "resolve", "dismissed"))
    assert moving.message == "cannot resolve an alert that is dismissed"
    assert moving.details == {"status": "dismissed", "action": "resolve"}
    with pytest.raises(InvalidTransition) as refused:
        EXPERIMENT_LIFECYCLE.require("change", "running", ["planning"])
    editing = api_error(refused.value)
    assert editing.message == "cannot change an experiment that is running"
    assert editing.details == {
        "status": "running",
        "action": "change",
        "allowed_in": ["planning"],
    }
    EXPERIMENT_LIFECYCLE.require("change", "planning", ["planning"])


def test_a_domain_error_of_no_known_kind_is_a_bug() -> None:
    answered = api_error(DomainError("odd", "no kind"))
    assert (answered.status, answered.code) == (500, "internal_error")


def test_only_declared_columns_may_be_updated() -> None:
    class Row(ResponseModel):
        id: str
        name: str

    with pytest.raises(ValueError, match="colour"):
        Resource("row", "rows", Row, updatable=("name", "colour"))


async def test_middlewares_around_a_handler_see_an_api_error() -> None:
    """The gateway's audit and idempotency middlewares catch ApiError: a domain error is one
    by the time it reaches them, and the answer is the API's error shape."""
    seen: list[int] = []

    @web.middleware
    async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            seen.append(exc.status)
            raise

    async def conflicted(_request: web.Request) -> web.Response:
        raise Conflict("rollback_conflict", "a later change", {"later_change_ids": ["x"]})

    app = web.Application(middlewares=[error_middleware, audit, domain_error_middleware])
    app.router.add_post("/rollback", conflicted)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/rollback")
        assert response.status == 409
        assert await response.json() == {
            "error": {
                "code": "rollback_conflict",
                "message": "a later change",
                "details": {"later_change_ids": ["x"]},
            }
        }
    assert seen == [409]


async def test_the_error_middleware_answers_a_domain_error_too() -> None:
    async def missing(_request: web.Request) -> web.Response:
        raise NotFound("experiment", "e")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/missing", missing)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/missing")
        assert response.status == 404
        body = await response.json()
        assert body["error"] == {
            "code": "not_found",
            "message": "experiment e not found",
            "details": {},
        }
