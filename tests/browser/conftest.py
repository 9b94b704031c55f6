"""The dashboard in a real Chromium, against the platform `adpilot up` starts.

One platform for the whole browser suite: `adpilot up` with the sandbox's demo account (a
week of history at once, then one simulated hour per second), on a database, exchange and
ports of its own, so it shares nothing with the session's other platforms. Each test gets
a fresh browser context (the API key lives in the tab's session storage) whose console is
watched: an error logged there fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright, expect

from services.gateway.keys import create_key
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import create_pool, scoped
from tests.browser.dashboard import HERE, Console, Tab, Up
from tests.e2e.platform import service_env
from tests.infra import apart, discarded

REPOSITORY = HERE.parents[1]
DASHBOARD = REPOSITORY / "web" / "dist"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM = Path(os.environ.get("ADPILOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Web-first assertions wait this long for the page to catch up.
expect.set_options(timeout=20_000)


# --- what the suite needs on the machine --------------------------------------------


@pytest.fixture(scope="package")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests drive the system's "
            "Chromium (.ci/run installs it with `apt-get install -y chromium`; set "
            "ADPILOT_CHROMIUM to use another)",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="package")
def dashboard_built() -> Path:
    if not (DASHBOARD / "index.html").is_file():
        pytest.fail(
            f"the dashboard is not built ({DASHBOARD / 'index.html'} is missing): "
            "run `cd web && npm ci && npm run build`",
            pytrace=False,
        )
    return DASHBOARD


@pytest.fixture(scope="package")
def axe_source() -> str:
    """axe-core's browser bundle, from the lockfile in this folder (installed on first use)."""
    if not AXE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install axe-core for the browser tests", pytrace=False)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not AXE.is_file():
            pytest.fail(f"`npm ci` in {HERE} failed:\n{done.stderr[-2000:]}", pytrace=False)
    return AXE.read_text()


# --- the platform --------------------------------------------------------------------


async def _ready(settings: Settings, up: asyncio.subprocess.Process, within: float) -> None:
    urls = {name: f"{settings.url_of(name)}/readyz" for name in SERVICES}
    urls["sandbox"] = f"{settings.url_of('sandbox')}/healthz"
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while urls:
            if up.returncode is not None:
                raise RuntimeError(f"adpilot up exited with {up.returncode}")
            for name, url in list(urls.items()):
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url) as r:
                        if r.status == 200:
                            del urls[name]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready within {within:.0f} s: {sorted(urls)}")
            await asyncio.sleep(0.2)


@pytest.fixture(scope="package")
async def own_settings(settings: Settings) -> AsyncIterator[Settings]:
    """The session's settings on a database, exchange and ports of the browser suite's own."""
    async with discarded(apart(settings, "browser")) as own:
        yield own


@pytest.fixture(scope="package")
async def platform(
    own_settings: Settings, dashboard_built: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Up]:
    """`adpilot up` with its sandbox demo, as `make run` starts it."""
    log_path = tmp_path_factory.mktemp("browser-platform") / "up.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "adpilot.cli",
            "up",
            env=service_env(own_settings),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    up: Up | None = None
    try:
        try:
            await _ready(own_settings, process, within=90.0)
        except (RuntimeError, TimeoutError) as exc:
            tail = log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"`adpilot up` did not come up: {exc}\n{tail}") from exc
        found = re.search(r"export ADPILOT_API_KEY=(\S+)", log_path.read_text(errors="replace"))
        assert found, log_path.read_text(errors="replace")[-3000:]
        up = Up(own_settings, log_path, found[1])
        up.viewer_key = await _viewer_key(own_settings)
        yield up
    finally:
        if up is not None:
            for pid in list(up.suspended):
                with contextlib.suppress(ProcessLookupError):
                    up.resume(pid)
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


async def _viewer_key(settings: Settings) -> str:
    """A viewer's key for the demo tenant (the default tenant, which `up` created)."""
    pool = await create_pool(settings.database_url, "gateway", min_size=1, max_size=1)
    try:
        async with scoped(pool, system=True) as conn:
            _row, key = await create_key(conn, settings.default_tenant, "browser viewer", "viewer")
    finally:
        await pool.close()
    return key


# --- the browser ---------------------------------------------------------------------


# Named apart from pytest-playwright's fixtures (playwright, browser, context, page), which
# drive the synchronous API and a browser Playwright downloads.
@pytest.fixture(scope="package")
async def driver() -> AsyncIterator[Playwright]:
    async with async_playwright() as running:
        yield running


@pytest.fixture(scope="package")
async def chromium_browser(driver: Playwright, chromium: Path) -> AsyncIterator[Browser]:
    launched = await driver.chromium.launch(
        executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
    )
    yield launched
    await launched.close()


@pytest.fixture
async def browsing(chromium_browser: Browser, platform: Up) -> AsyncIterator[BrowserContext]:
    fresh = await chromium_browser.new_context(
        base_url=platform.url, viewport={"width": 1366, "height": 900}
    )
    yield fresh
    await fresh.close()


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    """Fails the test if any page it opened reported an error."""
    watched = Console()
    yield watched
    assert not watched.errors, "the browser console reported errors:\n" + "\n".join(watched.errors)


@pytest.fixture
def new_tab(
    browsing: BrowserContext,
    platform: Up,
    console: Console,
    axe_source: str,
    request: pytest.FixtureRequest,
) -> Callable[[], Awaitable[Tab]]:
    """Open a tab (as many as a test needs) with its console watched."""

    async def opened() -> Tab:
        page = await browsing.new_page()
        console.watch(page)
        name = re.sub(r"\W+", "-", request.node.name.removeprefix("test_"))[:60]
        return Tab(page, platform.url, console, axe_source, name)

    return opened


@pytest.fixture
async def tab(new_tab: Callable[[], Awaitable[Tab]]) -> Tab:
    return await new_tab()
