// Campaign names, so rows say "Spring sale" rather than a uuid. Loaded once signed in and
// refreshed now and then; the ad platform's view of each campaign comes with it.
import { signal } from "@preact/signals";

import { api, type Campaign } from "../api";
import { shortId } from "./format";

export const campaigns = signal<ReadonlyMap<string, Campaign>>(new Map());

let timer: number | undefined;

async function load(): Promise<void> {
  const found = new Map<string, Campaign>();
  let cursor: string | undefined;
  // A tenant has tens of campaigns; ten pages of 500 is far beyond any of them.
  for (let page = 0; page < 10; page++) {
    const result = await api.listCampaigns(cursor ? { limit: 500, cursor } : { limit: 500 });
    for (const campaign of result.items) found.set(campaign.id, campaign);
    if (!result.next_cursor) break;
    cursor = result.next_cursor;
  }
  campaigns.value = found;
}

export function watchCampaigns(): () => void {
  const run = () => {
    load()
      .catch(() => undefined)
      .finally(() => {
        timer = window.setTimeout(run, 60_000);
      });
  };
  run();
  return () => window.clearTimeout(timer);
}

export function campaignName(id: string | null | undefined): string {
  if (!id) return "—";
  return campaigns.value.get(id)?.name ?? `Campaign ${shortId(id)}`;
}

export function campaignOptions(): { value: string; label: string }[] {
  return [...campaigns.value.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({ value: c.id, label: c.name }));
}
