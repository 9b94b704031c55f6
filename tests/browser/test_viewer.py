"""A viewer reads every page it is offered and finds nothing to act with."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.dashboard import PAGES, Tab, Up

pytestmark = pytest.mark.browser

# What a button that changes something is called.
ACTION = re.compile(
    r"^\s*(approve|reject|roll ?back|undo|apply|create|new|add|edit|delete|remove|pause|"
    r"resume|start|stop|conclude|analy[sz]e|run|simulate|reallocate|save|acknowledge|"
    r"resolve|snooze|mute|revoke|rotate|force|forecast now|preview|record|set|change|"
    r"enable|disable|import)\b",
    re.I,
)


def test_the_action_words_catch_the_buttons_an_operator_gets() -> None:
    for label in (
        "Approve",
        "Reject",
        "Rollback",
        "Roll back",
        "Undo",
        "Change autonomy",
        "Import report",
    ):
        assert ACTION.match(label), label
    for label in ("Sign out", "Show readout: Demo", "Show as table", "Show 3 new"):
        assert not ACTION.match(label), label


async def test_a_viewer_finds_no_action_buttons(tab: Tab, platform: Up) -> None:
    await tab.sign_in(platform.viewer_key)
    offered = [
        name for name in PAGES if await tab.nav().get_by_role("link", name=name, exact=True).count()
    ]
    assert {"Alerts", "Recommendations", "Optimizations", "Experiments"} <= set(offered), offered
    for name in offered:
        await tab.open(name)
        await tab.settle()
        buttons = tab.page.get_by_role("button")
        named = []
        for button in await buttons.all():
            label = await button.get_attribute("aria-label") or await button.inner_text()
            named.append(" ".join(label.split()))
        actions = [label for label in named if ACTION.match(label)]
        assert not actions, f"{name}: a viewer is offered {actions}"
        await expect(
            tab.page.get_by_role("heading", level=1, name=name, exact=True)
        ).to_be_visible()
        await tab.check_page(f"viewer-{name}")
