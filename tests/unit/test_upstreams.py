"""The gateway spreads a service's requests over its replicas, passes over one that is
down, and never sends a write that reached one replica to another."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.gateway.app import SPEC as GATEWAY
from services.gateway.proxy import HTTP_CLIENT, forward_to
from services.gateway.upstreams import Upstreams, may_try_next
from shared.config import Settings
from shared.internal_auth import Principal
from shared.service import ServiceRuntime
from shared.web import error_middleware

# The gateway's own request keys are strings, as the gateway sets them.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_replicas_take_turns() -> None:
    upstreams = Upstreams(["a", "b", "c"])
    firsts = [upstreams.order()[0] for _ in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]
    assert upstreams.order() == ["a", "b", "c"]


def test_an_unreachable_replica_goes_last_until_its_cooloff_ends() -> None:
    clock = Clock()
    upstreams = Upstreams(["a", "b", "c"], cooloff=2.0, clock=clock)
    upstreams.unreachable("a")
    assert [upstreams.order() for _ in range(3)] == [
        ["b", "c", "a"],
        ["b", "c", "a"],
        ["c", "b", "a"],
    ]
    clock.now = 2.5
    assert upstreams.order() == ["a", "b", "c"]
    upstreams.unreachable("b")
    upstreams.answered("b")  # it came back before its cooloff ended
    assert upstreams.order() == ["b", "c", "a"]


def test_only_what_was_never_sent_or_only_reads_go_to_another_replica() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
        ConnectionRefusedError(111, "refused"),
    )
    cut = aiohttp.ServerDisconnectedError()
    assert may_try_next(refused, "POST") and may_try_next(refused, "GET")
    assert may_try_next(cut, "GET")
    assert not may_try_next(cut, "POST") and not may_try_next(cut, "PATCH")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _replica(name: str, seen: Counter[str], cuts: bool = False) -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        seen[f"{name} {request.method}"] += 1
        if cuts:
            # Gone after the request arrived: the answer is lost, the work may be done.
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(1)
        return web.json_response({"replica": name})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@asynccontextmanager
async def _gateway(urls: list[str]) -> AsyncIterator[aiohttp.ClientSession]:
    settings = Settings(decision_urls=",".join(urls), internal_secret="s" * 32)
    runtime = ServiceRuntime(spec=GATEWAY, settings=settings)

    @web.middleware
    async def as_the_gateway(request: web.Request, handler):  # type: ignore[no-untyped-def]
        request["request_id"] = "r"
        request["correlation_id"] = uuid4()
        request["principal"] = Principal(settings.default_tenant, "admin", "test")
        return await handler(request)

    app = web.Application(middlewares=[error_middleware, as_the_gateway])
    app.router.add_route("*", "/{tail:.*}", forward_to(runtime, "decision"))
    server = TestServer(app, host="127.0.0.1")
    async with aiohttp.ClientSession() as upstream_client:
        runtime.state[HTTP_CLIENT] = upstream_client
        await server.start_server()
        try:
            async with aiohttp.ClientSession(base_url=server.make_url("")) as client:
                yield client
        finally:
            await server.close()


async def test_requests_spread_over_replicas_and_pass_over_a_dead_one() -> None:
    seen: Counter[str] = Counter()
    async with _replica("a", seen) as a, _replica("b", seen) as b:
        async with _gateway([a, f"http://127.0.0.1:{_dead_port()}", b]) as client:
            statuses = []
            for i in range(8):
                method = "GET" if i % 2 else "POST"
                async with client.request(method, "/api/ai/decisions", json={}) as r:
                    statuses.append(r.status)
    assert statuses == [200] * 8
    assert seen["a GET"] + seen["a POST"] >= 3 and seen["b GET"] + seen["b POST"] >= 3
    assert sum(seen.values()) == 8


async def test_every_replica_down_is_a_503() -> None:
    async with _gateway([f"http://127.0.0.1:{_dead_port()}"] * 2) as client:
        async with client.post("/api/ai/decisions", json={}) as r:
            assert r.status == 503
            assert (await r.json())["error"]["code"] == "service_unavailable"


async def test_a_write_whose_answer_was_lost_is_not_sent_again() -> None:
    seen: Counter[str] = Counter()
    async with _replica("a", seen, cuts=True) as a, _replica("b", seen) as b:
        async with _gateway([a, b]) as client:
            async with client.post("/api/ai/decisions", json={}) as r:
                assert r.status == 503
        assert seen == Counter({"a POST": 1})
        # A read is sent again: it changes nothing.
        async with _gateway([a, b]) as client:
            async with client.get("/api/ai/decisions") as r:
                assert r.status == 200
                assert (await r.json()) == {"replica": "b"}
    # (aiohttp's client itself may have tried the read on a once more.)
    assert seen["a POST"] == 1 and seen["b POST"] == 0 and seen["b GET"] == 1
