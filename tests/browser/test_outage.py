"""A service that stops answering is named in a banner above every page until it is back."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.dashboard import Console, Tab, Up

pytestmark = pytest.mark.browser


async def test_a_banner_names_a_stopped_service_until_it_is_back(
    tab: Tab, platform: Up, console: Console
) -> None:
    # Calls to the stopped service's routes fail meanwhile, and Chrome logs each; those are
    # what the test brings about. Anything else in the console still fails it.
    console.expected.append(
        re.compile(r"Failed to load resource: the server responded with a status of 50[234]")
    )
    await tab.sign_in(platform.admin_key)
    await tab.open("Overview")
    banner = tab.page.get_by_role("alert").filter(has_text=re.compile(r"\boptimizer\b"))
    await expect(banner).to_have_count(0)
    pid = platform.suspend("optimizer")
    try:
        await expect(banner).to_be_visible(timeout=30_000)
        await tab.check_page("banner-optimizer-stopped")
        # Above every page, not only the one that saw it first.
        await tab.open("Status")
        await expect(banner).to_be_visible()
    finally:
        platform.resume(pid)
    await expect(banner).to_have_count(0, timeout=45_000)
