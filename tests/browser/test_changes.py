"""Acting from the dashboard: approving a recommendation, and rolling a change back.

Each test makes its own recommendation through the API on a campaign of its own, so what
it looks for on the page is what it did, whatever the demo does meanwhile.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.dashboard import Console, Tab, Up, entries, waited

pytestmark = pytest.mark.browser

APPROVE = re.compile(r"^Approve\b")
ROLL_BACK = re.compile(r"^Roll ?back\b", re.I)


async def campaign(platform: Up, index: int) -> dict[str, Any]:
    """One of the demo account's campaigns, the same one each run."""

    async def listed() -> list[dict[str, Any]] | None:
        # The view fills as the platform is read: wait until it holds the one asked for.
        found = await platform.items("/campaigns")
        return found if len(found) > index else None

    found = await waited("the demo account's campaigns", listed, 60)
    return sorted(found, key=lambda c: c["name"])[index]


async def recommend(platform: Up, target: dict[str, Any], changes: dict[str, Any]) -> str:
    """A pending recommendation on ``target``, the only one waiting on that campaign."""
    for waiting in await platform.items(
        "/recommendations", status="pending", target_entity_id=target["id"]
    ):
        await platform.api("POST", f"/recommendations/{waiting['id']}/reject", json={})
    kind = {"bid": "bid_strategy", "audience": "audience_targeting"}[changes["kind"]]
    created = await platform.api(
        "POST",
        "/recommendations",
        json={
            "recommendation_type": kind,
            "target_entity_type": "campaign",
            "target_entity_id": target["id"],
            "recommended_changes": changes,
        },
    )
    return str(created["id"])


async def test_approving_a_recommendation_applies_its_change(tab: Tab, platform: Up) -> None:
    target = await campaign(platform, 4)
    bid = round(target["bid_multiplier"] * 1.05, 3)
    rec = await recommend(platform, target, {"kind": "bid", "to": bid})

    await tab.sign_in(platform.admin_key)
    await tab.open("Recommendations")
    # The engine may propose changes of its own to the same campaign meanwhile: the row is
    # the one whose change is this bid, as the page writes it (three decimals at most).
    shown = f"{bid:.3f}".rstrip("0").rstrip(".")
    row = (
        entries(tab.page)
        .filter(has_text=target["name"])
        .filter(has_text=f"→ {shown}\N{MULTIPLICATION SIGN}")
        .filter(has=tab.page.get_by_role("button", name=APPROVE))
    )
    await expect(row).to_have_count(1)
    await tab.check_page("recommendations-pending")
    await row.get_by_role("button", name=APPROVE).click()

    async def implemented() -> dict[str, Any] | None:
        found: dict[str, Any] = await platform.api("GET", f"/recommendations/{rec}")
        return found if found["status"] in ("implemented", "failed") else None

    done = await waited("the approval carried out", implemented, 30, every=0.5)
    assert done["status"] == "implemented", done

    # The change log shows the change the approval made, applied.
    await tab.open("Optimizations")
    change = (
        entries(tab.page)
        .filter(has_text=target["name"])
        .filter(has_text=re.compile("recommendation", re.I))
    )
    await expect(change.first).to_be_visible()
    await expect(change.first).to_contain_text(re.compile(r"\bapplied", re.I))
    await tab.check_page("optimizations-after-approval")


async def test_a_second_rollback_of_a_change_shows_the_conflict(
    new_tab: Any, platform: Up, console: Console
) -> None:
    """Two people roll back the same change at once: the first undoes it, the second is told
    why nothing more happened. An undo on a live ad account asks for confirmation first."""
    # The refused second rollback is this test's point; Chrome logs the 409 itself.
    console.expected.append(re.compile(r"status of 409 \(Conflict\)"))
    target = await campaign(platform, 5)
    factor = round(target["audience_factor"] * 1.1, 3)
    rec = await recommend(platform, target, {"kind": "audience", "to": factor})
    approved = await platform.api("POST", f"/recommendations/{rec}/approve", json={})
    assert approved["status"] == "implemented", approved
    change_id = approved["optimization_id"]

    first, second = await new_tab(), await new_tab()
    for person in (first, second):
        await person.sign_in(platform.admin_key)
        await person.open("Optimizations")

    def change_row(person: Tab) -> Any:
        return (
            entries(person.page)
            .filter(has_text=target["name"])
            .filter(has_text=re.compile("recommendation", re.I))
            .filter(has=person.page.get_by_role("button", name=ROLL_BACK))
            .first
        )

    # The second person opens the rollback of the change and hesitates...
    await change_row(second).get_by_role("button", name=ROLL_BACK).click()
    hesitating = second.page.get_by_role("dialog")
    await expect(hesitating).to_be_visible()

    # ...while the first rolls it back.
    await change_row(first).get_by_role("button", name=ROLL_BACK).click()
    dialog = first.page.get_by_role("dialog")
    await dialog.get_by_role("button", name=ROLL_BACK).last.click()
    await expect(dialog).to_be_hidden()

    async def rolled_back() -> dict[str, Any] | None:
        found: dict[str, Any] = await platform.api("GET", f"/optimizations/{change_id}")
        return found if found["rolled_back_by"] else None

    original = await waited("the change rolled back", rolled_back, 30, every=0.5)
    await expect(first.page.get_by_text(re.compile("rolled back", re.I)).first).to_be_visible()
    await first.check_page("optimizations-rolled-back")

    # The second rollback of the same change: refused, and the page says why.
    await hesitating.get_by_role("button", name=ROLL_BACK).last.click()
    conflict = second.page.get_by_role("alert").filter(
        has_text=re.compile(r"already rolled back|conflict|changed again|later change", re.I)
    )
    await expect(conflict).to_be_visible()
    await second.check_page("optimizations-rollback-conflict")
    undos = await platform.items(
        "/optimizations", cause_type="rollback", target_entity_id=target["id"]
    )
    assert [u["id"] for u in undos if u["rollback_of"] == change_id] == [original["rolled_back_by"]]
