"""Signing in, and every page of the navigation: its link, its URL, its heading, a
screenshot, and no serious or critical accessibility violation (axe-core)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.dashboard import PAGES, Tab, Up

pytestmark = pytest.mark.browser


async def test_a_wrong_key_is_refused_on_the_sign_in_form(tab: Tab, platform: Up) -> None:
    # Chrome logs the refused call itself; the page must not add errors of its own.
    tab.console.expected.append(re.compile(r"status of 401"))
    await tab.page.goto(platform.url + "/")
    await tab.page.get_by_label("API key", exact=True).fill("adp_00000000_not-a-key")
    await tab.page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(tab.page.get_by_role("alert")).to_be_visible()
    await expect(tab.page.get_by_role("navigation")).to_have_count(0)
    await tab.check_page("sign-in-refused")


async def test_every_page_has_its_link_url_and_heading_and_passes_axe(
    tab: Tab, platform: Up
) -> None:
    await tab.sign_in(platform.admin_key, check=True)
    links = tab.nav().get_by_role("link")
    for name in PAGES:
        await expect(tab.nav().get_by_role("link", name=name, exact=True)).to_have_count(1)
    for name in PAGES:
        await tab.open(name)
        await expect(tab.page.get_by_role("heading", level=1)).to_have_count(1)
        await tab.check_page(name)
        # Its own URL: loaded afresh, the address shows the same page.
        await tab.page.reload()
        await expect(tab.page).to_have_url(re.compile(rf"/{name.lower()}(\?.*)?$"))
        await expect(
            tab.page.get_by_role("heading", level=1, name=name, exact=True)
        ).to_be_visible()
        await expect(links.first).to_be_visible()
