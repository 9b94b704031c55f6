// The account's daily spend, conversions and ROAS. The API has no route for raw metrics;
// each campaign's response-curve fit carries its complete days (spend, revenue,
// conversions), which summed over campaigns give the account's days.
import { api, type Campaign } from "../api";
import { numAt, records, strAt } from "./json";

export interface Day {
  day: string;
  spend: number;
  revenue: number;
  conversions: number;
  campaigns: number;
}

/** At most this many campaigns are asked for their curve. */
const MAX_CAMPAIGNS = 25;

export async function accountDays(campaigns: readonly Campaign[]): Promise<{ days: Day[]; campaigns: number }> {
  const chosen = campaigns.slice(0, MAX_CAMPAIGNS);
  const curves = await Promise.allSettled(chosen.map((c) => api.getCampaignCurve(c.id)));
  const byDay = new Map<string, Day>();
  let counted = 0;
  for (const result of curves) {
    if (result.status !== "fulfilled") continue;
    const revenue = records(result.value.revenue?.points);
    const conversions = records(result.value.conversions?.points);
    if (revenue.length === 0 && conversions.length === 0) continue;
    counted += 1;
    const touched = new Set<string>();
    const entry = (day: string): Day => {
      let d = byDay.get(day);
      if (!d) {
        d = { day, spend: 0, revenue: 0, conversions: 0, campaigns: 0 };
        byDay.set(day, d);
      }
      if (!touched.has(day)) {
        touched.add(day);
        d.campaigns += 1;
      }
      return d;
    };
    for (const p of revenue) {
      const day = strAt(p, "day");
      if (!day) continue;
      const d = entry(day);
      d.spend += numAt(p, "spend") ?? 0;
      d.revenue += numAt(p, "value") ?? 0;
    }
    for (const p of conversions) {
      const day = strAt(p, "day");
      if (!day) continue;
      const d = entry(day);
      if (revenue.length === 0) d.spend += numAt(p, "spend") ?? 0;
      d.conversions += numAt(p, "value") ?? 0;
    }
  }
  const all = [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day)).slice(-14);
  // Fitting windows start on different days: leading days that only some campaigns cover
  // would read as a jump. (A campaign paused later rightly leaves later days.)
  const counts = all.map((d) => d.campaigns).sort((a, b) => a - b);
  const typical = counts[Math.floor(counts.length / 2)] ?? 0;
  const first = all.findIndex((d) => d.campaigns >= typical);
  return { days: first < 0 ? all : all.slice(first), campaigns: counted };
}
