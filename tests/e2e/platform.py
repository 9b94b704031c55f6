"""The four services as real processes, for tests that drive them only through the gateway."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import aiohttp
from pydantic import SecretStr

from shared.config import Settings
from shared.contracts import SERVICES
from tests.fakes.google_ads_server import tls_identity
from tests.infra import free_port

# How long a process may take to answer its readiness probe. Only a slow start waits this
# long (a process that exits fails at once); parallel workers and other suites on a
# two-core machine make a start of 30 s and more ordinary.
START_WITHIN = 90.0

# Ad-platform credentials are sealed with this key in the services of the run; the Meta
# connector goes to a fake Graph server on this port (tests/e2e/test_connections.py starts
# it), and linked accounts' metrics are pulled every few seconds.
SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()
META_GRAPH_PORT = free_port()
# The Google Ads connector goes to the fake Google Ads API (tests/e2e/test_google_ads.py
# starts it on these ports), trusting the fake's certificate.
GOOGLE_ADS_PORT = free_port()
GOOGLE_ADS_TOKEN_PORT = free_port()
TEST_ENV = {
    "ADPILOT_SECRETS_KEY": SECRETS_KEY,
    "ADPILOT_SECRETS_KEY_ID": "e2e",
    "ADPILOT_META_GRAPH_URL": f"http://127.0.0.1:{META_GRAPH_PORT}",
    "ADPILOT_GOOGLE_ADS_ENDPOINT": f"localhost:{GOOGLE_ADS_PORT}",
    "ADPILOT_GOOGLE_ADS_TOKEN_URI": f"http://127.0.0.1:{GOOGLE_ADS_TOKEN_PORT}/token",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": tls_identity()[2],
    "ADPILOT_METRICS_PULL_SECONDS": "2",
    "ADPILOT_METRICS_FIRST_PULL_HOURS": "240",
}


def service_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADPILOT_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"ADPILOT_{name.upper()}"] = str(value)
    env.update(TEST_ENV)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _append(path: Path) -> BinaryIO:
    return path.open("ab")


class Platform:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    @property
    def gateway(self) -> str:
        return self.settings.url_of("gateway")

    async def start_gateway_variant(self, label: str, **overrides: object) -> str:
        """Another gateway in front of the same services, with some settings changed."""
        variant = self.settings.model_copy(update={"gateway_port": free_port(), **overrides})
        log = _append(self.log_dir / f"gateway-{label}.log")
        self.processes[f"gateway-{label}"] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adpilot.cli",
            "serve",
            "gateway",
            env=service_env(variant),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        await self._wait_url(
            f"gateway-{label}", f"{variant.url_of('gateway')}/readyz", START_WITHIN
        )
        return variant.url_of("gateway")

    async def start_replica(self, service: str, label: str) -> None:
        """Another process of ``service`` on the same database and queues."""
        replica = self.settings.model_copy(update={f"{service}_port": free_port()})
        name = f"{service}-{label}"
        log = _append(self.log_dir / f"{name}.log")
        self.processes[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adpilot.cli",
            "serve",
            service,
            env=service_env(replica),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        await self._wait_url(name, f"{replica.url_of(service)}/readyz", START_WITHIN)

    async def start(self, name: str) -> None:
        log = _append(self.log_dir / f"{name}.log")
        self.processes[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adpilot.cli",
            "serve",
            name,
            env=service_env(self.settings),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        await self.wait_ready(name)

    async def wait_ready(self, name: str, within: float = START_WITHIN) -> None:
        await self._wait_url(name, f"{self.settings.url_of(name)}/readyz", within)

    async def _wait_url(self, name: str, url: str, within: float) -> None:
        deadline = asyncio.get_running_loop().time() + within
        async with aiohttp.ClientSession() as session:
            while True:
                proc = self.processes[name]
                if proc.returncode is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode}: {self.log_of(name)[-2000:]}"
                    )
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{name} not ready: {self.log_of(name)[-2000:]}")
                await asyncio.sleep(0.2)

    def log_of(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    async def stop(self, name: str) -> None:
        proc = self.processes.pop(name)
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    @property
    def sandbox(self) -> str:
        return self.settings.url_of("sandbox")

    async def start_sandbox(self) -> None:
        """The sandbox ad platform, with no account and a clock that tests move."""
        log = _append(self.log_dir / "sandbox.log")
        self.processes["sandbox"] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adpilot.cli",
            "sandbox",
            "--speed",
            "0",
            "--gateway",
            self.gateway,
            env=service_env(self.settings),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        await self._wait_url("sandbox", f"{self.sandbox}/healthz", START_WITHIN)

    async def start_all(self) -> None:
        await asyncio.gather(self.start_sandbox(), *(self.start(name) for name in SERVICES))

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in list(self.processes)))
