// Who else bids in the campaigns' auctions, and how the campaigns compare with the market:
// competitor events, a campaign's Auction Insights, its benchmark tiers, and the import of
// an Auction Insights report.
import { useMemo, useState } from "preact/hooks";

import {
  api,
  type CampaignBenchmarks,
  type Comparison,
  type CompetitiveIntelligence,
  type CompetitorEvent,
  type QueryOf,
} from "../api";
import { ChartFrame, type LegendItem } from "../components/charts/ChartFrame";
import { type Line, TimeChart } from "../components/charts/TimeChart";
import { ImportReport } from "../components/ImportReport";
import {
  Badge,
  Card,
  ErrorNote,
  ListFoot,
  LiveStamp,
  Loading,
  NewRows,
  PageHeader,
  SelectField,
  TableWrap,
  type Tone,
} from "../components/ui";
import { campaignName, campaignOptions } from "../lib/campaigns";
import { sent, useFilters } from "../lib/filters";
import { day, fixed, label, money, num, pct } from "../lib/format";
import { boolAt, numAt, strAt } from "../lib/json";
import { useLiveList, usePolled } from "../lib/live";
import { Link } from "../lib/router";
import { can } from "../lib/session";

const KINDS: Record<string, { name: string; tone: Tone; icon: string; explain: string }> = {
  entered: { name: "Entered", tone: "info", icon: "＋", explain: "started showing in these auctions" },
  exited: { name: "Exited", tone: "neutral", icon: "−", explain: "stopped showing in these auctions" },
  aggressive: { name: "Aggressive", tone: "bad", icon: "▲", explain: "impression share and position above rate up" },
  retreated: { name: "Retreated", tone: "good", icon: "▼", explain: "impression share and position above rate down" },
};

/** The six Auction Insights figures, as the platforms name them. */
const FIGURES = [
  ["impression_share", "Impression share"],
  ["overlap_rate", "Overlap rate"],
  ["position_above_rate", "Position above rate"],
  ["top_of_page_rate", "Top of page rate"],
  ["abs_top_of_page_rate", "Abs. top of page rate"],
  ["outranking_share", "Outranking share"],
] as const;

const OWN = "You";
const OWN_COLOR = "#1f4fd1";
// Told apart by more than hue: the chart's table and legend name each line.
const PALETTE = ["#b45309", "#0f766e", "#9d174d", "#4d7c0f", "#6d28d9", "#be123c", "#0e7490", "#57534e", "#a16207"];
/** Days of Auction Insights the chart shows, up to the newest. */
const CHART_DAYS = 28;

const SOURCES: Record<string, string> = {
  sandbox: "Sandbox platform",
  google_ads_csv: "Google Ads report",
  microsoft_ads_csv: "Microsoft Advertising report",
  microsoft_ads_api: "Microsoft Advertising API",
};

const METRICS: Record<string, { name: string; format: (v: number) => string }> = {
  ctr: { name: "CTR", format: (v) => pct(v, 2) },
  cpc: { name: "CPC", format: (v) => money(v) },
  cvr: { name: "Conversion rate", format: (v) => pct(v, 2) },
  cpa: { name: "Cost per conversion", format: (v) => money(v) },
};

/** Cost per lead and cost per acquisition are both spend over conversions here: one group,
 * "Cost per conversion", against the published figures of either, and the campaign's own
 * history and peers once. */
const COST_NAMES: Record<string, string> = { cpl: "cost per lead", cpa: "cost per acquisition" };

function metricGroup(metric: string): string {
  return metric === "cpl" ? "cpa" : metric;
}

function withoutRepeats(comparisons: Comparison[]): Comparison[] {
  return comparisons.filter(
    (c) => c.metric !== "cpl" || c.kind === "published" || !comparisons.some((d) => d.metric === "cpa" && d.kind === c.kind),
  );
}

const BENCHMARK_KINDS: Record<string, string> = {
  published: "Published figures",
  own_history: "Your own history",
  peer_pool: "Peers in your industry",
};

/** A share as the Auction Insights reports write it: "45.23%". */
function share(value: number): string {
  return `${fixed(value * 100, 2)}%`;
}

function signedPoints(v: number): string {
  return `${v > 0 ? "+" : v < 0 ? "−" : ""}${fixed(Math.abs(v), 1)} points`;
}

/** One Auction Insights figure as the report shows it: "< 10%", "--" where none. */
function Figure({ row, name }: { row: CompetitiveIntelligence; name: string }) {
  const value = numAt(row.intelligence_data, name);
  if (name === "impression_share" && value === null && boolAt(row.intelligence_data, "impression_share_below_10")) {
    return (
      <>
        <span aria-hidden="true">&lt; 10%</span>
        <span class="visually-hidden">under 10%</span>
      </>
    );
  }
  if (value === null) {
    return (
      <>
        <span aria-hidden="true">--</span>
        <span class="visually-hidden">not reported</span>
      </>
    );
  }
  return <>{share(value)}</>;
}

function figureText(row: CompetitiveIntelligence | undefined, name: string): string {
  if (!row) return "";
  const value = numAt(row.intelligence_data, name);
  if (value !== null) return share(value);
  if (name === "impression_share" && boolAt(row.intelligence_data, "impression_share_below_10")) return "< 10%";
  return "--";
}

// ---- competitor events ----------------------------------------------------------------

function Events({ campaign, kind }: { campaign: string; kind: string }) {
  const query = sent({ campaign_id: campaign, kind }) as QueryOf<"listCompetitorEvents">;
  const list = useLiveList<CompetitorEvent>((q) => api.listCompetitorEvents({ ...query, ...q }), `${campaign}:${kind}`, {
    interval: 5_000,
    version: (e) => `${e.size}:${e.confidence}`,
  });
  return (
    <Card
      title="Competitor events"
      labelledBy="events-title"
      description="A competitor entering or leaving a campaign's auctions, or moving its impression share by 5 points or more against its usual weekday, two days running. Newest first."
      actions={<LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />}
    >
      <ErrorNote error={list.error} prefix="Could not load competitor events." />
      <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
      {list.loading ? (
        <Loading what="Loading competitor events…" />
      ) : (
        <TableWrap label="Table of competitor events">
          <table>
            <caption class="visually-hidden">Competitor events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Campaign</th>
                <th scope="col">Competitor</th>
                <th scope="col">Event</th>
                <th scope="col" class="num">Size</th>
                <th scope="col" class="num">Confidence</th>
                <th scope="col">Incidents</th>
              </tr>
            </thead>
            <tbody>
              {list.items.length === 0 ? (
                <tr>
                  <td colSpan={7} class="empty">
                    {campaign || kind
                      ? "No competitor events match these filters."
                      : "No competitor events yet. They are found in each day's Auction Insights once the day is reported."}
                  </td>
                </tr>
              ) : (
                list.items.map((e) => {
                  const meta = KINDS[e.kind];
                  return (
                    <tr key={e.id} class={list.arrived.has(e.id) ? "arrived" : undefined}>
                      <td>{day(e.started_on)}</td>
                      <td>{campaignName(e.campaign_id)}</td>
                      <td>
                        <strong>{e.competitor}</strong>
                      </td>
                      <td>
                        <Badge tone={meta?.tone ?? "neutral"} {...(meta ? { icon: meta.icon } : {})}>
                          {meta?.name ?? label(e.kind)}
                        </Badge>
                        {meta ? <div class="small muted">{meta.explain}</div> : null}
                      </td>
                      <td class="num">
                        {signedPoints(e.size)}
                        <div class="small muted">of impression share</div>
                      </td>
                      <td class="num">{pct(e.confidence, 0)}</td>
                      <td>
                        <Link href={`/alerts?status=all&affected_entity_id=${encodeURIComponent(e.campaign_id)}`}>
                          Incidents<span class="visually-hidden"> of {campaignName(e.campaign_id)}</span>
                        </Link>
                      </td>
                    </tr>
                  );
                })
              )}
            </tbody>
          </table>
        </TableWrap>
      )}
      <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="events" />
    </Card>
  );
}

// ---- Auction Insights ---------------------------------------------------------------

interface Insights {
  source: string;
  days: string[];
  competitors: string[];
  byDay: Map<string, Map<string, CompetitiveIntelligence>>;
  latestDay: string | null;
  latest: CompetitiveIntelligence[];
}

/** The newest source's rows, the last weeks of them by day, and the newest day's. */
function arrange(rows: CompetitiveIntelligence[]): Insights | null {
  const newest = rows[0];
  if (!newest) return null;
  const source = newest.data_source ?? "";
  const own = rows.filter((r) => (r.data_source ?? "") === source);
  const dated = own.filter((r) => r.day !== null && strAt(r.intelligence_data, "period") !== "range");
  const allDays = [...new Set(dated.map((r) => r.day as string))].sort();
  const days = allDays.slice(-CHART_DAYS);
  const byDay = new Map<string, Map<string, CompetitiveIntelligence>>();
  for (const r of dated) {
    if (!days.includes(r.day as string)) continue;
    const at = byDay.get(r.day as string) ?? new Map<string, CompetitiveIntelligence>();
    at.set(r.competitor_identifier ?? "?", r);
    byDay.set(r.day as string, at);
  }
  const latestDay = days.at(-1) ?? null;
  const latest = latestDay
    ? [...(byDay.get(latestDay)?.values() ?? [])]
    : own.filter((r) => r.day === null || strAt(r.intelligence_data, "period") === "range");
  const share = (r: CompetitiveIntelligence) => numAt(r.intelligence_data, "impression_share") ?? 0;
  latest.sort((a, b) =>
    a.competitor_identifier === OWN ? -1 : b.competitor_identifier === OWN ? 1 : share(b) - share(a),
  );
  // Competitors in the order of their share on the newest day; then those gone by then.
  const seen = new Set<string>();
  for (const r of latest) if (r.competitor_identifier !== OWN) seen.add(r.competitor_identifier ?? "?");
  for (const d of [...days].reverse()) {
    for (const name of byDay.get(d)?.keys() ?? []) if (name !== OWN) seen.add(name);
  }
  return { source, days, competitors: [...seen], byDay, latestDay, latest };
}

function AuctionInsights({ campaign, why }: { campaign: string; why: string | null }) {
  const rows = usePolled(
    () => api.listCompetitiveIntelligence({ campaign_id: campaign, limit: 500 }),
    `insights:${campaign}`,
    20_000,
    campaign !== "",
  );
  const found = useMemo(() => arrange(rows.data?.items ?? []), [rows.data]);
  const name = campaignName(campaign);
  // One point a day: the axis counts days and names them.
  const x = useMemo(() => (found?.days ?? []).map((_d, i) => i), [found]);
  const dayAt = (v: number) => (Number.isInteger(v) && found?.days[v] ? day(found.days[v]) : "");
  const names = found ? [OWN, ...found.competitors] : [];
  const lines: Line[] = useMemo(
    () =>
      names.map((who, i) => ({
        label: who,
        color: who === OWN ? OWN_COLOR : PALETTE[(i - 1) % PALETTE.length]!,
        width: who === OWN ? 3 : 1.8,
        dots: true,
        ...(i > PALETTE.length ? { dash: [6, 4] } : {}),
        values: (found?.days ?? []).map((d) => numAt(found?.byDay.get(d)?.get(who)?.intelligence_data, "impression_share")),
      })),
    [found],
  );
  const legend: LegendItem[] = lines.map((l) => ({ label: l.label, color: l.color, kind: "line" }));

  const body = () => {
    if (campaign === "") return <p class="muted">Choose a campaign above to see its Auction Insights.</p>;
    if (rows.loading) return <Loading what="Loading Auction Insights…" />;
    if (!found) {
      return (
        <p class="muted">
          No Auction Insights for {name} yet. They come from the ad platform once a day is over, or from a report imported below.
        </p>
      );
    }
    const first = found.days[0];
    const last = found.latestDay;
    const own = found.latest.find((r) => r.competitor_identifier === OWN);
    const top = found.latest.find((r) => r.competitor_identifier !== OWN);
    return (
      <>
        <p class="small muted">
          From: {SOURCES[found.source] ?? label(found.source)}
          {why ? ` · ${why}` : ""}
        </p>
        {found.days.length >= 2 ? (
          <ChartFrame
            title="Impression share by day"
            summary={`Impression share by day in ${name}'s auctions, ${day(first)} to ${day(last)}: you ${figureText(own, "impression_share") || "not listed"} on the last day${
              top ? `, the largest competitor ${top.competitor_identifier} ${figureText(top, "impression_share")}` : ""
            }; ${found.competitors.length} ${found.competitors.length === 1 ? "competitor" : "competitors"}. Shares under 10% are not drawn.`}
            table={{
              columns: ["Day", ...names],
              rows: found.days.map((d) => [day(d), ...names.map((who) => figureText(found.byDay.get(d)?.get(who), "impression_share") || "not listed")]),
            }}
            legend={legend}
          >
            <TimeChart x={x} lines={lines} height={260} time={false} xFormat={dayAt} yFormat={(v) => pct(v, 0)} yRange={[0, 1]} />
          </ChartFrame>
        ) : (
          <p class="muted">The chart needs two days of Auction Insights.</p>
        )}
        <h3 id="latest-insights-title" style={{ marginTop: "1rem" }}>
          {last ? `${day(last)}, the newest day reported` : "Over the report's whole range"}
        </h3>
        <TableWrap label={`Auction Insights of ${name}`}>
          <table class="figures" aria-labelledby="latest-insights-title">
            <thead>
              <tr>
                <th scope="col">Display URL domain</th>
                {FIGURES.map(([key, title]) => (
                  <th key={key} scope="col" class="num">
                    {title}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {found.latest.map((r) => (
                <tr key={r.id}>
                  <th scope="row" style={{ fontWeight: r.competitor_identifier === OWN ? 650 : 500 }}>
                    {r.competitor_identifier}
                  </th>
                  {FIGURES.map(([key]) => (
                    <td key={key} class="num">
                      <Figure row={r} name={key} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
        <p class="small muted">
          As the platforms report them: "&lt; 10%" is an impression share under the reporting threshold (left out of the chart), "--" a figure the report does not give (your own row has no overlap, position above or outranking figures).
        </p>
      </>
    );
  };

  return (
    <Card
      title={campaign ? `Auction Insights: ${name}` : "Auction Insights"}
      labelledBy="insights-title"
      description="Who else showed in the campaign's auctions, and how often, by day."
    >
      <ErrorNote error={rows.error} prefix="Could not load Auction Insights." />
      {body()}
    </Card>
  );
}

// ---- benchmarks ---------------------------------------------------------------------

/** A tier as a reader says it: "50_75" → "50th–75th percentile", "below_50" → "below the median". */
export function tierName(tier: string | null): string {
  if (!tier) return "no tier";
  const ordinal = (p: string) => (p === "50" ? "median" : `${p}th percentile`);
  const below = /^below_(\d+)$/.exec(tier);
  if (below) return `below the ${ordinal(below[1]!)}`;
  const plus = /^(\d+)_plus$/.exec(tier);
  if (plus) return plus[1] === "50" ? "at or above the median" : `${plus[1]}th percentile and up`;
  const band = /^(\d+)_(\d+)$/.exec(tier);
  if (band) return `${band[1]}th–${band[2]}th percentile`;
  return label(tier);
}

function tierTone(tier: string | null): Tone {
  if (!tier) return "neutral";
  if (tier.startsWith("below_")) return "warn";
  const low = Number(/^(\d+)/.exec(tier)?.[1] ?? "0");
  return low >= 50 ? "good" : low >= 25 ? "neutral" : "warn";
}

function Provenance({ c }: { c: Comparison }) {
  const b = c.benchmark;
  const source = b.source ?? BENCHMARK_KINDS[c.kind] ?? label(c.kind);
  const details = [
    b.edition,
    b.industry && b.industry !== "all" ? label(b.industry) : "all industries",
    b.platform && b.platform !== "all" ? label(b.platform) : null,
    b.sample_size
      ? c.kind === "peer_pool"
        ? `${num(b.sample_size, 0)} tenants`
        : c.kind === "own_history"
          ? `${num(b.sample_size, 0)} campaigns`
          : `sample of ${num(b.sample_size, 0)}`
      : null,
  ].filter((part): part is string => !!part);
  return (
    <>
      {b.url ? (
        <a href={b.url} target="_blank" rel="noreferrer">
          {source}
        </a>
      ) : (
        source
      )}
      {details.length > 0 ? <div class="small muted">{details.join(" · ")}</div> : null}
    </>
  );
}

function Benchmarks({ campaign }: { campaign: string }) {
  const result = usePolled<CampaignBenchmarks>(() => api.getCampaignBenchmarks(campaign), `benchmarks:${campaign}`, 60_000, campaign !== "");
  const name = campaignName(campaign);
  const data = result.data;
  const missing = result.error && typeof result.error === "object" && "status" in result.error && (result.error as { status: number }).status === 404;
  const order = Object.keys(METRICS);
  const comparisons = withoutRepeats([...(data?.comparisons ?? [])]).sort(
    (a, b) =>
      order.indexOf(metricGroup(a.metric)) - order.indexOf(metricGroup(b.metric)) ||
      Object.keys(BENCHMARK_KINDS).indexOf(a.kind) - Object.keys(BENCHMARK_KINDS).indexOf(b.kind),
  );
  return (
    <Card
      title={campaign ? `Benchmarks: ${name}` : "Benchmarks"}
      labelledBy="benchmarks-title"
      description={
        data
          ? `The campaign's figures over the last ${data.window_days} days, and where they stand among each benchmark's percentiles. The best tier is 90th percentile and up: for costs, lower is better.`
          : "Where the campaign's figures stand among published benchmarks, your own campaigns and your peers."
      }
    >
      {missing ? null : <ErrorNote error={result.error} prefix="Could not load benchmarks." />}
      {campaign === "" ? (
        <p class="muted">Choose a campaign above to see its benchmarks.</p>
      ) : result.loading ? (
        <Loading what="Loading benchmarks…" />
      ) : missing ? (
        <p class="muted">No metrics for {name} yet: benchmarks need its hourly figures.</p>
      ) : !data || comparisons.length === 0 ? (
        <p class="muted">No benchmark applies to {name} yet.</p>
      ) : (
        <TableWrap label={`Benchmarks of ${name}`}>
          <table>
            <caption class="visually-hidden">Benchmark tiers of {name}, per metric and kind of benchmark</caption>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col" class="num">Campaign</th>
                <th scope="col">Tier</th>
                <th scope="col">Against</th>
                <th scope="col">Source</th>
                <th scope="col" class="num">Benchmark median</th>
              </tr>
            </thead>
            {order
              .map((metric) => comparisons.filter((c) => metricGroup(c.metric) === metric))
              .filter((group) => group.length > 0)
              .map((group) => {
                const first = group[0]!;
                const key = metricGroup(first.metric);
                const meta = METRICS[key];
                const format = meta?.format ?? ((v: number) => num(v));
                const value = first.campaign_value ?? data.values[first.metric] ?? null;
                return (
                  <tbody key={key} class="metric-group">
                    {group.map((c, i) => {
                      const medianOnly = c.decided_by.length === 1 && c.decided_by[0] === 50;
                      return (
                        <tr key={`${c.kind}-${c.benchmark.id}-${i}`}>
                          {i === 0 ? (
                            <>
                              <th scope="rowgroup" rowSpan={group.length} style={{ fontWeight: 550 }}>
                                {meta?.name ?? label(key)}
                                <div class="small muted">{c.higher_is_better ? "higher is better" : "lower is better"}</div>
                              </th>
                              <td class="num" rowSpan={group.length}>
                                {value === null ? "—" : format(value)}
                              </td>
                            </>
                          ) : null}
                          <td>
                            {c.tier ? <Badge tone={tierTone(c.tier)}>{tierName(c.tier)}</Badge> : <span class="muted">no value to place</span>}
                            {c.tier && medianOnly ? <div class="small muted">from the median alone</div> : null}
                            {c.tier && !medianOnly && c.decided_by.length > 0 && c.decided_by.length < 5 ? (
                              <div class="small muted">from the {c.decided_by.map((p) => (p === 50 ? "median" : `${p}th`)).join(", ")} only</div>
                            ) : null}
                          </td>
                          <td>
                            {BENCHMARK_KINDS[c.kind] ?? label(c.kind)}
                            {key === "cpa" && c.kind === "published" ? <div class="small muted">{COST_NAMES[c.metric]}</div> : null}
                          </td>
                          <td>
                            <Provenance c={c} />
                          </td>
                          <td class="num">{c.benchmark.p50 === null ? "—" : format(c.benchmark.p50)}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                );
              })}
          </table>
        </TableWrap>
      )}
    </Card>
  );
}

// ---- the page -----------------------------------------------------------------------

export function Market() {
  const filters = useFilters(["campaign_id", "kind"] as const);
  const chosen = filters.values.campaign_id;
  // A report imported: the lists and the chart start again, with its rows and events.
  const [imports, setImports] = useState(0);
  // With no campaign chosen: the one with the newest competitor event, else the newest report.
  const newestEvent = usePolled(() => api.listCompetitorEvents({ limit: 1 }), "newest-event", 20_000, chosen === "");
  const newestRow = usePolled(() => api.listCompetitiveIntelligence({ limit: 1 }), "newest-insights", 20_000, chosen === "");
  const eventCampaign = newestEvent.data?.items[0]?.campaign_id ?? "";
  const rowCampaign = newestRow.data?.items[0]?.campaign_id ?? "";
  const shown = chosen || eventCampaign || rowCampaign;
  const why = chosen
    ? null
    : eventCampaign
      ? "the campaign of the newest competitor event; choose another above"
      : rowCampaign
        ? "the campaign with the newest report; choose another above"
        : null;
  return (
    <>
      <PageHeader
        title="Market"
        description="Who else bids in your campaigns' auctions and how they move, and how the campaigns compare with published benchmarks, your own history and your peers. A competitor's move is shown beside the incidents it co-occurs with; it is not shown to be their cause."
      />
      <div class="filters" role="search" aria-label="Choose campaign and events">
        <SelectField label="Campaign" value={chosen} allLabel="All campaigns" options={campaignOptions()} onChange={(v) => filters.set("campaign_id", v)} />
        <SelectField label="Event" value={filters.values.kind} allLabel="All events" options={Object.entries(KINDS).map(([value, k]) => ({ value, label: k.name }))} onChange={(v) => filters.set("kind", v)} />
      </div>
      <Events key={`events-${imports}`} campaign={chosen} kind={filters.values.kind} />
      <div class="stack">
        <AuctionInsights key={`insights-${imports}`} campaign={shown} why={why} />
        <Benchmarks campaign={shown} />
        {can("operator") ? <ImportReport campaign={chosen} onImported={() => setImports((n) => n + 1)} /> : null}
      </div>
    </>
  );
}
