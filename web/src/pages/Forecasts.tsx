import { useMemo, useState } from "preact/hooks";

import { api, type Forecast } from "../api";
import { ChartFrame, type LegendItem } from "../components/charts/ChartFrame";
import { type Line, TimeChart } from "../components/charts/TimeChart";
import { Badge, Card, ErrorNote, ListFoot, LiveStamp, Loading, NewRows, PageHeader, SelectField, TableWrap } from "../components/ui";
import { campaignName, campaignOptions } from "../lib/campaigns";
import { useFilters } from "../lib/filters";
import { fixed, money, num, pct, platformHour, ratio } from "../lib/format";
import { at, numAt, strAt } from "../lib/json";
import { useLiveList } from "../lib/live";

const METRICS = {
  spend: { name: "Spend", format: (v: number) => money(v, 0) },
  conversions: { name: "Conversions", format: (v: number) => num(v, 0) },
  revenue: { name: "Revenue", format: (v: number) => money(v, 0) },
  roas: { name: "ROAS", format: (v: number) => ratio(v) },
} as const;
type Metric = keyof typeof METRICS;

function hit(f: Forecast, metric: Metric): boolean | null {
  const v = at(f.interval_hits, "80", metric);
  return typeof v === "boolean" ? v : null;
}

function Score({ forecasts, metric }: { forecasts: Forecast[]; metric: Metric }) {
  const scored = forecasts.filter((f) => f.scored_at);
  const mases = scored.map((f) => numAt(f.mase, metric)).filter((v): v is number => v !== null);
  const hits = scored.map((f) => hit(f, metric)).filter((v): v is boolean => v !== null);
  const mase = mases.length ? mases.reduce((a, b) => a + b, 0) / mases.length : null;
  const coverage = hits.length ? hits.filter(Boolean).length / hits.length : null;
  return (
    <div class="grid grid-3">
      <div class="kpi">
        <span class="kpi-label">MASE, {METRICS[metric].name.toLowerCase()}</span>
        <span class="kpi-value">{mase === null ? "—" : fixed(mase, 2)}</span>
        <span class="kpi-note">
          {mase === null
            ? "No forecast scored yet: a forecast is scored once its period has passed."
            : `Mean of ${mases.length} scored ${mases.length === 1 ? "forecast" : "forecasts"}: ${
                mase < 1 ? "better than" : "no better than"
              } the seasonal naive forecast (1.0).`}
        </span>
      </div>
      <div class="kpi">
        <span class="kpi-label">80% interval coverage</span>
        <span class="kpi-value">{coverage === null ? "—" : pct(coverage, 0)}</span>
        <span class="kpi-note">
          {coverage === null ? "Not scored yet." : `${hits.filter(Boolean).length} of ${hits.length} periods fell inside their 80% interval (about 80% is right).`}
        </span>
      </div>
      <div class="kpi">
        <span class="kpi-label">Forecasts shown</span>
        <span class="kpi-value">{forecasts.length}</span>
        <span class="kpi-note">
          {scored.length} scored · {forecasts.length - scored.length} waiting for their period to end
        </span>
      </div>
    </div>
  );
}

function ForecastChart({ forecasts, metric, campaign }: { forecasts: Forecast[]; metric: Metric; campaign: string }) {
  const ordered = useMemo(
    () => [...forecasts].filter((f) => f.period_start).sort((a, b) => (a.period_start ?? "").localeCompare(b.period_start ?? "")),
    [forecasts],
  );
  const { format, name } = METRICS[metric];
  const x = ordered.map((f) => Date.parse(f.period_start ?? f.created_at) / 1000);
  const lines = useMemo(
    () => [
      { label: "80% high", color: "#1f4fd1", hidden: true, values: ordered.map((f) => numAt(f.confidence_intervals, "80", metric, "high")) },
      { label: "80% low", color: "#1f4fd1", hidden: true, values: ordered.map((f) => numAt(f.confidence_intervals, "80", metric, "low")) },
      { label: "Forecast", color: "#1f4fd1", values: ordered.map((f) => numAt(f.predicted_metrics, metric)) },
      { label: "Actual", color: "#a1161c", points: true, values: ordered.map((f) => numAt(f.actual_metrics, metric)) },
    ],
    [ordered, metric],
  );
  if (ordered.length === 0) return <p class="muted">No forecasts for this campaign and horizon yet.</p>;
  if (ordered.length === 1) {
    // One period is a number, not a line: the chart is drawn from the second period on.
    const only = (i: number) => (lines[i]!.values[0] == null ? "—" : format(lines[i]!.values[0]!));
    return (
      <p class="muted">
        One period so far, from {platformHour(ordered[0]!.period_start)}: {name.toLowerCase()} forecast {only(2)} (80% interval {only(1)} – {only(0)}),
        actual {lines[3]!.values[0] == null ? "not known yet" : only(3)}. The chart of periods starts with the second forecast; the hours of this one are below.
      </p>
    );
  }
  const scored = ordered.filter((f) => f.actual_metrics);
  return (
    <ChartFrame
      title={`${name} per period: forecast, 80% interval and actual`}
      summary={`${name} of ${campaign} for each of ${ordered.length} forecast periods from ${platformHour(ordered[0]?.period_start)} to ${platformHour(ordered.at(-1)?.period_start)}: the forecast with its 80% interval band, and the actual total for the ${scored.length} periods already over.`}
      table={{
        columns: ["Period start (UTC)", "Forecast", "80% low", "80% high", "Actual"],
        rows: ordered.map((f, i) => [
          platformHour(f.period_start),
          lines[2]!.values[i] == null ? "—" : format(lines[2]!.values[i]!),
          lines[1]!.values[i] == null ? "—" : format(lines[1]!.values[i]!),
          lines[0]!.values[i] == null ? "—" : format(lines[0]!.values[i]!),
          lines[3]!.values[i] == null ? "not yet" : format(lines[3]!.values[i]!),
        ]),
      }}
      legend={[
        { label: "Forecast", color: "#1f4fd1" },
        { label: "80% interval", color: "#1f4fd1", kind: "band" },
        { label: "Actual", color: "#a1161c", kind: "point" },
      ]}
    >
      <TimeChart x={x} lines={lines} band={{ upper: 0, lower: 1, color: "#1f4fd1" }} height={260} yFormat={(v) => format(v)} />
    </ChartFrame>
  );
}

type HourlyMetric = Exclude<Metric, "roas">;

/** Per hour the amounts are small: one more digit than a period's total. */
const HOUR_FORMAT: Record<HourlyMetric, (v: number) => string> = {
  spend: (v) => money(v, 2),
  conversions: (v) => num(v, 1),
  revenue: (v) => money(v, 2),
};

const FORECAST_COLOR = "#1f4fd1";
const ACTUAL_COLOR = "#a1161c";

function hourly(value: unknown): (number | null)[] | null {
  return Array.isArray(value) ? value.map((v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null)) : null;
}

/** The forecast the hour-by-hour chart shows unless the reader picks one: the newest scored, so its actuals show, else the newest. */
function defaultHourly(forecasts: Forecast[]): Forecast | null {
  const withHours = forecasts.filter((f) => f.hourly_forecast);
  return (
    withHours.find((f) => f.scored_at && f.hourly_actual) ??
    withHours.find((f) => f.scored_at) ??
    withHours[0] ??
    null
  );
}

function HourlyPath({ forecast, metric, chosen }: { forecast: Forecast; metric: HourlyMetric; chosen: boolean }) {
  const format = HOUR_FORMAT[metric];
  const name = METRICS[metric].name;
  const data = useMemo(() => {
    const point = hourly(at(forecast.hourly_forecast, metric)) ?? [];
    const fit = (values: (number | null)[] | null): (number | null)[] | null =>
      values === null ? null : point.map((_, i) => values[i] ?? null);
    const low = fit(hourly(at(forecast.hourly_intervals, "80", metric, "low")));
    const high = fit(hourly(at(forecast.hourly_intervals, "80", metric, "high")));
    const band =
      low !== null && high !== null && low.some((v) => v !== null) && high.some((v) => v !== null) ? { low, high } : null;
    const actual = forecast.scored_at ? fit(hourly(at(forecast.hourly_actual, metric))) : null;
    const start = Date.parse(forecast.period_start ?? forecast.created_at) / 1000;
    const x = point.map((_, i) => start + i * 3600);
    const lines: Line[] = [
      ...(band
        ? [
            { label: "80% high", color: FORECAST_COLOR, hidden: true, values: band.high },
            { label: "80% low", color: FORECAST_COLOR, hidden: true, values: band.low },
          ]
        : []),
      { label: "Forecast", color: FORECAST_COLOR, values: point },
      ...(actual ? [{ label: "Actual", color: ACTUAL_COLOR, points: true, values: actual }] : []),
    ];
    return { point, low: band?.low ?? null, high: band?.high ?? null, actual, x, lines };
  }, [forecast, metric]);
  const { point, low, high, actual, x, lines } = data;
  if (point.length === 0) {
    return <p class="muted">This forecast has no hourly path for {name.toLowerCase()}.</p>;
  }
  const reported = actual ? actual.filter((v) => v !== null).length : 0;
  const hour = (i: number) => platformHour(new Date((x[i] ?? 0) * 1000).toISOString());
  const which = chosen ? "Chosen forecast" : forecast.scored_at ? "Latest scored forecast" : "Latest forecast";
  const notes: string[] = [];
  if (!low) notes.push("No 80% band: this forecast was made before hourly intervals were kept.");
  if (!forecast.scored_at) notes.push("Not scored yet: each hour's actual shows once the period is over.");
  else if (!actual) notes.push("No hourly actuals: this forecast was scored before they were kept.");
  else if (reported < point.length) notes.push(`${point.length - reported} of ${point.length} hours were not reported.`);
  const legend: LegendItem[] = [
    { label: "Forecast", color: FORECAST_COLOR },
    ...(low ? [{ label: "80% band", color: FORECAST_COLOR, kind: "band" as const }] : []),
    ...(actual ? [{ label: "Actual", color: ACTUAL_COLOR, kind: "point" as const }] : []),
  ];
  const parts = [
    `the forecast per hour`,
    ...(low ? ["its 80% band"] : []),
    ...(actual ? [`the actual for the ${reported} hours reported`] : []),
  ];
  const said = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}` : parts[0];
  return (
    <div class="stack">
      <ChartFrame
        title={`${which}, hour by hour (${name.toLowerCase()})`}
        summary={`${name} of the forecast for the period from ${platformHour(forecast.period_start)} to ${platformHour(forecast.period_end)}, for each of its ${point.length} hours: ${said}.`}
        table={{
          columns: ["Hour (UTC)", "Forecast", "80% low", "80% high", "Actual"],
          rows: point.map((v, i) => {
            const a = actual?.[i] ?? null;
            return [
              hour(i),
              v === null ? "—" : format(v),
              low?.[i] == null ? "—" : format(low[i]!),
              high?.[i] == null ? "—" : format(high[i]!),
              !forecast.scored_at ? "not yet" : !actual ? "—" : a === null ? "not reported" : format(a),
            ];
          }),
        }}
        legend={legend}
      >
        <TimeChart x={x} lines={lines} {...(low ? { band: { upper: 0, lower: 1, color: FORECAST_COLOR } } : {})} height={200} yFormat={(v) => format(v)} />
      </ChartFrame>
      {notes.length ? <p class="muted small">{notes.join(" ")}</p> : null}
    </div>
  );
}

export function Forecasts() {
  const options = campaignOptions();
  const filters = useFilters(["campaign_id", "horizon_hours", "metric"] as const, { horizon_hours: "24", metric: "conversions" });
  const campaign = filters.values.campaign_id || options[0]?.value || "";
  const horizon = filters.values.horizon_hours === "168" ? 168 : 24;
  const metric: Metric = filters.values.metric in METRICS ? (filters.values.metric as Metric) : "conversions";
  const list = useLiveList<Forecast>(
    (q) => api.listForecasts({ campaign_id: campaign, horizon_hours: horizon, ...q }),
    `${campaign}:${horizon}`,
    { limit: 100, enabled: campaign !== "", version: (f) => `${f.scored_at ?? ""}` },
  );
  const all = [...list.fresh, ...list.items];
  const [picked, setPicked] = useState<string | null>(null);
  const chosen = picked === null ? null : (all.find((f) => f.id === picked && f.hourly_forecast) ?? null);
  const hours = chosen ?? defaultHourly(all);
  const showHours = (f: Forecast) => {
    setPicked(f.id);
    // The chart is above the table: bring it into view for the reader.
    requestAnimationFrame(() => document.getElementById("forecast-hours")?.scrollIntoView({ block: "nearest" }));
  };
  const { format } = METRICS[metric];

  return (
    <>
      <PageHeader title="Forecasts" description="Each campaign's next day and next week, with 80% and 95% intervals; once a period is over, its forecast is scored against what happened (MASE against a seasonal naive forecast, and whether the interval held the actual).">
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <Card>
        <div class="filters" role="search" aria-label="Choose a forecast">
          <SelectField label="Campaign" value={campaign} options={options} onChange={(v) => filters.set("campaign_id", v)} />
          <SelectField label="Horizon" value={String(horizon)} options={[{ value: "24", label: "Next 24 hours" }, { value: "168", label: "Next 7 days" }]} onChange={(v) => filters.set("horizon_hours", v)} />
          <SelectField label="Metric" value={metric} options={(Object.keys(METRICS) as Metric[]).map((m) => ({ value: m, label: METRICS[m].name }))} onChange={(v) => filters.set("metric", v)} />
        </div>
        <ErrorNote error={list.error} prefix="Could not load forecasts." />
        {!campaign ? (
          <Loading what="Loading campaigns…" />
        ) : list.loading ? (
          <Loading what="Loading forecasts…" />
        ) : (
          <div class="stack">
            <Score forecasts={all} metric={metric} />
            <ForecastChart forecasts={all} metric={metric} campaign={campaignName(campaign)} />
            {hours ? (
              <div id="forecast-hours">
                {metric === "roas" ? (
                  <p class="muted">ROAS has no hourly path; pick spend, conversions or revenue.</p>
                ) : (
                  <HourlyPath forecast={hours} metric={metric} chosen={chosen !== null} />
                )}
              </div>
            ) : null}
          </div>
        )}
      </Card>
      <Card title="Every forecast" labelledBy="forecast-list-title" description={`${campaignName(campaign)}, ${horizon === 24 ? "next 24 hours" : "next 7 days"}, newest first.`}>
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        <TableWrap label="Forecasts">
          <table>
            <caption class="visually-hidden">Forecasts, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Period (platform time)</th>
                <th scope="col" class="num">Forecast</th>
                <th scope="col" class="num">80% interval</th>
                <th scope="col" class="num">Actual</th>
                <th scope="col">In interval</th>
                <th scope="col" class="num">MASE</th>
                <th scope="col" class="num">Accuracy</th>
                <th scope="col">Model</th>
                <th scope="col">
                  <span class="visually-hidden">Hour by hour</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.length === 0 ? (
                <tr>
                  <td colSpan={9} class="empty">
                    {list.loading ? "Loading…" : "No forecasts yet."}
                  </td>
                </tr>
              ) : (
                list.items.map((f) => {
                  const predicted = numAt(f.predicted_metrics, metric);
                  const low = numAt(f.confidence_intervals, "80", metric, "low");
                  const high = numAt(f.confidence_intervals, "80", metric, "high");
                  const actual = numAt(f.actual_metrics, metric);
                  const inside = hit(f, metric);
                  const shown = hours?.id === f.id;
                  return (
                    <tr key={f.id} class={shown ? "selected" : undefined}>
                      <td class="nowrap">
                        {platformHour(f.period_start)}
                        <div class="desc">to {platformHour(f.period_end)}</div>
                      </td>
                      <td class="num">{predicted === null ? "—" : format(predicted)}</td>
                      <td class="num">{low === null || high === null ? "—" : `${format(low)} – ${format(high)}`}</td>
                      <td class="num">{actual === null ? <span class="muted">not yet</span> : format(actual)}</td>
                      <td>
                        {inside === null ? (
                          <span class="muted">—</span>
                        ) : inside ? (
                          <Badge tone="good">Inside</Badge>
                        ) : (
                          <Badge tone="warn">Outside</Badge>
                        )}
                      </td>
                      <td class="num">{fixed(numAt(f.mase, metric), 2)}</td>
                      <td class="num">{f.accuracy_score === null ? "—" : num(f.accuracy_score, 1)}</td>
                      <td class="small">
                        {f.model_used ?? "—"}
                        {strAt(f.model_details, "fallback_reason") ? <div class="muted">{strAt(f.model_details, "fallback_reason")}</div> : null}
                      </td>
                      <td class="nowrap">
                        {f.hourly_forecast ? (
                          <button
                            type="button"
                            class="small subtle"
                            aria-pressed={shown}
                            aria-label={`Show hours: ${platformHour(f.period_start)}`}
                            onClick={() => showHours(f)}
                          >
                            Hours
                          </button>
                        ) : (
                          <span class="muted small">no hours</span>
                        )}
                      </td>
                    </tr>
                  );
                })
              )}
            </tbody>
          </table>
        </TableWrap>
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="forecasts" />
      </Card>
    </>
  );
}
