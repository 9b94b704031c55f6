"""The optimizer's HTTP app in process, for the tests of its routes (connections to each
ad platform, benchmarks): started on a database of its own, called as the gateway calls
it, and asked to make a budget change the way a person approves one."""

from __future__ import annotations

import base64
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from services.optimizer.app import SPEC
from services.optimizer.core.platform import connector_lifespan
from shared.config import Settings
from shared.internal_auth import HEADER, Principal, sign
from shared.secrets import KEY_ENV, KEY_ID_ENV, OLD_KEYS_ENV
from shared.service import RUNTIME, ServiceRuntime, create_app
from tests.infra import apart, provisioned

Lifespan = Callable[[ServiceRuntime], AbstractAsyncContextManager[None]]


@dataclasses.dataclass
class OptimizerApp:
    url: str
    settings: Settings
    runtime: ServiceRuntime

    async def call(
        self, method: str, path: str, tenant: uuid.UUID, body: Any = None, role: str = "admin"
    ) -> tuple[int, Any]:
        """``method path`` under /api/ai as the gateway sends it: signed for ``tenant`` and
        ``role``. The status and the JSON answer."""
        token = sign(
            Principal(tenant, role, "test"),  # type: ignore[arg-type]
            self.settings.require_internal_secret(),
            60,
        )
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method, f"{self.url}/api/ai{path}", json=body, headers={HEADER: token}
            ) as r,
        ):
            return r.status, await r.json()

    async def approve_budget(
        self, tenant: uuid.UUID, campaign: uuid.UUID, budget: float
    ) -> tuple[Any, int, Any]:
        """A budget recommendation for ``campaign`` (asserted created), then its approval:
        the recommendation, and the approval's status and answer."""
        status, rec = await self.call(
            "POST",
            "/recommendations",
            tenant,
            {
                "recommendation_type": "budget_optimization",
                "target_entity_type": "campaign",
                "target_entity_id": str(campaign),
                "recommended_changes": {"kind": "budget", "to": budget},
            },
        )
        assert status == 201, rec
        status, approved = await self.call("POST", f"/recommendations/{rec['id']}/approve", tenant)
        return rec, status, approved


@asynccontextmanager
async def serving(
    settings: Settings,
    label: str,
    env: Mapping[str, str] | None = None,
    lifespans: Sequence[Lifespan] = (connector_lifespan,),
) -> AsyncIterator[tuple[str, Settings, ServiceRuntime]]:
    """The optimizer's app with ``lifespans`` (its connectors, by default) and no consumers
    or background jobs, on a database and exchange of its own named by ``label``, with a
    fresh secrets key and ``env`` set meanwhile; every variable it set is put back
    afterwards. Its URL, settings and runtime."""
    env = dict(env or {})
    names = (KEY_ENV, KEY_ID_ENV, OLD_KEYS_ENV, *env)
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(
        {KEY_ENV: base64.b64encode(os.urandom(32)).decode(), KEY_ID_ENV: "test-1", **env}
    )
    os.environ.pop(OLD_KEYS_ENV, None)
    try:
        async with provisioned(apart(settings, label)) as own:
            spec = dataclasses.replace(
                SPEC, lifespans=tuple(lifespans), background=(), subscriptions=None
            )
            app = create_app(spec, own)
            server = TestServer(app)
            await server.start_server()
            try:
                yield str(server.make_url("")).rstrip("/"), own, app[RUNTIME]
            finally:
                await server.close()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
