"""Idempotency keys: what a key may look like, what makes two requests the same."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.streams import EmptyStreamReader
from aiohttp.test_utils import make_mocked_request

from services.gateway.idempotency import (
    KEY_PATTERN,
    _without_secrets,
    fingerprint,
    idempotency,
    parse_key,
)
from shared.config import Settings
from shared.internal_auth import Principal
from shared.web import ApiError


@pytest.mark.parametrize(
    "key", ["a", "x" * 255, "9b2f0c1e-2d4e-4f7a-9a53-0d4f3e6b8f11", "batch:2024-01-01 00:00", "~!"]
)
def test_printable_ascii_up_to_255_is_a_key(key: str) -> None:
    assert parse_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "caf\u00e9", "tab\there", "line\nbreak", " padded", "\x7f"]
)
def test_anything_else_is_a_400(key: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_key(key)
    assert (raised.value.status, raised.value.code) == (400, "invalid_idempotency_key")


def test_the_documented_pattern_is_the_one_enforced() -> None:
    pattern = re.compile(KEY_PATTERN)
    for key in ("a", "a b", "x" * 255):
        assert pattern.match(key)
    for key in (" a", "a ", "é"):
        assert not pattern.match(key)


def test_method_path_and_body_each_make_a_different_request() -> None:
    base = fingerprint("POST", "/api/ai/decisions", b"{}")
    assert base == fingerprint("POST", "/api/ai/decisions", b"{}")
    assert base != fingerprint("PUT", "/api/ai/decisions", b"{}")
    assert base != fingerprint("POST", "/api/ai/alerts", b"{}")
    assert base != fingerprint("POST", "/api/ai/decisions?x=1", b"{}")
    assert base != fingerprint("POST", "/api/ai/decisions", b"{ }")
    # Parts are length-prefixed: moving bytes between path and body changes the request.
    assert fingerprint("POST", "/a", b"b") != fingerprint("POST", "/ab", b"")


def test_a_new_api_key_secret_is_not_kept() -> None:
    stored = _without_secrets(orjson.dumps({"id": "k1", "key": "adp_secret"}), ("key",))
    assert orjson.loads(stored) == {"id": "k1", "key": ""}
    assert _without_secrets(b"not json", ("key",)) == b"not json"


class _Unreachable:
    """A runtime whose database refuses connections."""

    def __init__(self) -> None:
        self.settings = Settings()

    @asynccontextmanager
    async def tenant_tx(self, _tenant: uuid.UUID) -> AsyncIterator[Any]:
        raise ConnectionRefusedError("connection refused")
        yield


# The gateway keeps the principal under a plain string key, as every middleware does.
@pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")
async def test_an_unreachable_key_store_is_a_503_with_retry_after() -> None:
    middleware = idempotency(_Unreachable())  # type: ignore[arg-type]
    reached = []

    async def handler(request: web.Request) -> web.StreamResponse:
        reached.append(request)
        return web.Response(status=201)

    request = make_mocked_request(
        "POST", "/api/ai/decisions", headers={"Idempotency-Key": "k1"}, payload=EmptyStreamReader()
    )
    request["principal"] = Principal(tenant_id=uuid.uuid4(), role="admin", subject="s")
    with pytest.raises(ApiError) as raised:
        await middleware(request, handler)
    assert (raised.value.status, raised.value.code) == (503, "service_unavailable")
    assert raised.value.headers["Retry-After"] == "2"
    assert reached == []
