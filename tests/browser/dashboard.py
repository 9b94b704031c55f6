"""What the browser tests work with: the running platform, a tab of the dashboard, and the
errors its console reports."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from playwright.async_api import ConsoleMessage, Error, Locator, Page, expect

from shared.config import Settings

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"

# The pages of the navigation, each at /<name in lower case> with an h1 of the same name.
PAGES = (
    "Overview",
    "Alerts",
    "Decisions",
    "Recommendations",
    "Market",
    "Optimizations",
    "Rules",
    "Budgets",
    "Forecasts",
    "Experiments",
    "Performance",
    "Audit",
    "Status",
)

T = TypeVar("T")


async def waited(
    what: str, probe: Callable[[], Awaitable[T | None]], within: float, every: float = 1.0
) -> T:
    """Poll ``probe`` until it returns something; fail naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(every)


@dataclass
class Up:
    """`adpilot up` running, with what its output told: the demo key and the pids."""

    settings: Settings
    log_path: Path
    admin_key: str
    viewer_key: str = ""
    suspended: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.settings.url_of("gateway")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pid_of(self, service: str) -> int:
        """The running process of ``service`` (the latest, if it was restarted)."""
        pids = re.findall(rf"adpilot: started {service} \(pid (\d+)\)", self.log())
        assert pids, f"{service} never started:\n{self.log()[-3000:]}"
        return int(pids[-1])

    def suspend(self, service: str) -> int:
        """Stop ``service`` where it stands (SIGSTOP). A killed service would be restarted
        by `adpilot up` within a second; a stopped one stays away until resumed."""
        pid = self.pid_of(service)
        os.kill(pid, signal.SIGSTOP)
        self.suspended.add(pid)
        return pid

    def resume(self, pid: int) -> None:
        os.kill(pid, signal.SIGCONT)
        self.suspended.discard(pid)

    async def api(self, method: str, path: str, key: str | None = None, **kwargs: Any) -> Any:
        """Call ``/api/ai<path>`` as the demo tenant's admin (or with ``key``)."""
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.request(method, f"{self.url}/api/ai{path}", headers=headers, **kwargs) as r,
        ):
            body = await r.json(content_type=None)
            assert r.status < 300, f"{method} {path}: HTTP {r.status} {body}"
            return body

    async def items(self, path: str, **params: str) -> list[dict[str, Any]]:
        page = await self.api("GET", path, params={"limit": "500", **params})
        found: list[dict[str, Any]] = page["items"]
        return found


@dataclass
class Console:
    """Errors pages reported: console messages of type error and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)
    # Network failures a test brings about on purpose (a stopped service), by pattern.
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", lambda message: self._message(page, message))
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: uncaught {error}"))

    def _message(self, page: Page, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if any(p.search(message.text) for p in self.expected):
            return
        # A failed request is logged with the resource it was for: say which.
        resource = (message.location or {}).get("url", "")
        about = f" ({resource})" if resource and resource != page.url else ""
        self.errors.append(f"{page.url}: {message.text}{about}")


def entries(page: Page | Locator) -> Locator:
    """The things a page lists (table rows, list items, articles), to filter by their text."""
    return (
        page.get_by_role("row").or_(page.get_by_role("listitem")).or_(page.get_by_role("article"))
    )


@dataclass
class Tab:
    """A tab of the dashboard, with its console watched."""

    page: Page
    base: str
    console: Console
    axe_source: str
    label: str

    async def sign_in(self, key: str, *, check: bool = False) -> None:
        """Sign in through the form; ``check`` also screenshots and checks the form page."""
        await self.page.goto(self.base + "/")
        field = self.page.get_by_label("API key", exact=True)
        await expect(field).to_be_visible()
        if check:
            await self.check_page("sign-in")
        await field.fill(key)
        await self.page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(self.nav()).to_be_visible()
        await expect(self.page.get_by_role("heading", level=1)).to_be_visible()

    def nav(self) -> Locator:
        return (
            self.page.get_by_role("navigation", name="Main")
            .or_(self.page.get_by_role("navigation"))
            .first
        )

    async def open(self, name: str) -> None:
        """Go to a page by its navigation link, as a person would."""
        await self.nav().get_by_role("link", name=name, exact=True).click()
        await expect(self.page).to_have_url(re.compile(rf"/{name.lower()}(\?.*)?$"))
        heading = self.page.get_by_role("heading", level=1, name=name, exact=True)
        await expect(heading).to_be_visible()

    async def settle(self) -> None:
        """Until the page's first requests are answered (live pages poll on; that's fine)."""
        with contextlib.suppress(Error):
            await self.page.wait_for_load_state("networkidle", timeout=5_000)

    async def check_page(self, name: str) -> None:
        """A screenshot, then axe: no serious or critical violation on the page as it is."""
        await self.settle()
        ARTIFACTS.mkdir(exist_ok=True)
        slug = re.sub(r"\W+", "-", name.lower())
        await self.page.screenshot(path=str(ARTIFACTS / f"{self.label}-{slug}.png"), full_page=True)
        violations = await self.axe()
        assert not violations, f"{name} ({self.page.url}): accessibility violations\n" + "\n".join(
            violations
        )

    async def axe(self) -> list[str]:
        # Evaluated, not added as a <script>: a content security policy must not stop it.
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.evaluate(self.axe_source)
        found: list[dict[str, Any]] = await self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
            }"""
        )
        return [f"  {v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in found]
