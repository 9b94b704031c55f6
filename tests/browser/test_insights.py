"""Reading what the platform learned: a forecast with its band, an experiment's readout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Locator, expect

from adpilot.demo import NAME as DEMO_EXPERIMENT
from tests.browser.dashboard import Tab, Up, waited

pytestmark = pytest.mark.browser

# Words a chart of a forecast's band uses for it.
BAND = re.compile(r"\b(band|interval|range|between|lower|upper|low|high)\b", re.I)


async def described(chart: Locator) -> str:
    """What assistive technology is told about a chart: its label, the elements that label
    or describe it, its SVG title and desc, and the table of values beside it (the
    accessible alternative a chart carries)."""
    text: str = await chart.evaluate(
        """(el) => {
            const byIds = (attr) => (el.getAttribute(attr) || "").split(/\\s+/)
                .map((id) => document.getElementById(id)).filter(Boolean)
                .map((n) => n.textContent).join(" ");
            const own = [el.getAttribute("aria-label") || "", byIds("aria-labelledby"),
                         byIds("aria-describedby"),
                         ...[...el.querySelectorAll("title, desc")].map((n) => n.textContent)];
            let table = null;
            for (let at = el; at && !table; at = at.parentElement) {
                table = at.querySelector("table");
            }
            const headers = table ? [...table.querySelectorAll("th, caption")]
                .map((n) => n.textContent) : [];
            return [...own, ...headers].join(" | ");
        }"""
    )
    return text


async def test_a_forecast_chart_shows_its_band(tab: Tab, platform: Up) -> None:
    async def forecasts() -> list[dict[str, Any]]:
        return await platform.items("/forecasts")

    await waited("the demo's first forecasts", forecasts, 90)
    await tab.sign_in(platform.admin_key)
    await tab.open("Forecasts")
    chart = tab.page.get_by_role("img", name=re.compile("forecast", re.I)).first
    await expect(chart).to_be_visible()
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50, box
    about = await described(chart)
    assert BAND.search(about), f"the forecast chart says nothing of its band: {about!r}"
    await tab.check_page("forecasts")


async def test_an_experiment_has_a_readout(tab: Tab, platform: Up) -> None:
    async def with_results() -> dict[str, Any] | None:
        for experiment in await platform.items("/experiments"):
            if experiment["experiment_name"] == DEMO_EXPERIMENT:
                results = await platform.items(f"/experiments/{experiment['id']}/results")
                return experiment if results else None
        return None

    await waited("the demo experiment's first results", with_results, 90)
    await tab.sign_in(platform.admin_key)
    await tab.open("Experiments")
    chance = tab.page.get_by_text(re.compile(r"chance to (win|beat)", re.I)).first
    if not await chance.is_visible():
        # A list of experiments first: the readout is one click away.
        named = re.compile(re.escape(DEMO_EXPERIMENT))
        opener = tab.page.get_by_role("link", name=named)
        await opener.or_(tab.page.get_by_role("button", name=named)).first.click()
    await expect(chance).to_be_visible()
    # The effect with its interval, drawn on an axis through zero.
    interval = tab.page.get_by_role("img").filter(visible=True)
    await expect(interval.first).to_be_visible()
    about = " ".join([await described(c) for c in await interval.all()])
    assert re.search(r"interval|effect|lift|uplift|difference", about, re.I), about
    await tab.check_page("experiment-readout")
