"""Incidents arrive on the Alerts page by themselves, as the platform raises them.

First in the suite: the demo's anomalies start showing about a minute after `adpilot up`,
so the page is open before the first of them (or between two) is raised.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.dashboard import ARTIFACTS, Tab, Up, waited

pytestmark = pytest.mark.browser


async def test_incidents_appear_on_alerts_without_reloading(tab: Tab, platform: Up) -> None:
    await tab.sign_in(platform.admin_key)
    await tab.open("Alerts")
    await tab.settle()
    # What the page had when it opened: an incident raised after this must come by itself.
    known = {a["id"] for a in await platform.items("/alerts", status="active")}
    shown_at_first = await tab.page.locator("body").inner_text()
    # A mark on this document: a reload or a new page would lose it.
    await tab.page.evaluate("window.openedForTheTest = true")

    raised: dict[str, str] = {}  # raised since the page opened: id -> title

    async def new_incident_on_screen() -> dict[str, Any] | None:
        for alert in await platform.items("/alerts", status="active"):
            if alert["id"] in known or alert["title"] in shown_at_first:
                continue
            raised[alert["id"]] = alert["title"]
            if await tab.page.get_by_text(alert["title"]).count():
                return alert
        return None

    try:
        alert = await waited("a new incident on the page", new_incident_on_screen, 150)
    except AssertionError as exc:
        await tab.page.screenshot(path=str(ARTIFACTS / "alerts-no-new-incident.png"))
        raise AssertionError(
            f"{exc}; raised meanwhile (API): {sorted(raised.values()) or 'none'}"
        ) from None
    # By itself: the page was neither reloaded nor left.
    assert await tab.page.evaluate("window.openedForTheTest === true")
    assert re.search(r"/alerts(\?.*)?$", tab.page.url), tab.page.url
    assert alert["severity"]
    await tab.check_page("alerts-with-a-new-incident")
