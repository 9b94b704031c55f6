import { useMemo } from "preact/hooks";

import { api, type Forecast } from "../api";
import { ChartFrame } from "../components/charts/ChartFrame";
import { TimeChart } from "../components/charts/TimeChart";
import { Badge, Card, ErrorNote, ListFoot, LiveStamp, Loading, NewRows, PageHeader, SelectField } from "../components/ui";
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
        <span class="kpi-label">MASE, {METRICS[metric].name.toLowerCase()} (mean of {mases.length})</span>
        <span class="kpi-value">{mase === null ? "—" : fixed(mase, 2)}</span>
        <span class="kpi-note">
          {mase === null
            ? "No forecast scored yet: a forecast is scored once its period has passed."
            : mase < 1
              ? "Better than the seasonal naive forecast (1.0)."
              : "No better than the seasonal naive forecast (1.0)."}
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

function HourlyPath({ forecast, metric }: { forecast: Forecast; metric: Metric }) {
  const values = at(forecast.hourly_forecast, metric);
  const series = Array.isArray(values) ? values.map((v) => (typeof v === "number" ? v : null)) : [];
  const start = Date.parse(forecast.period_start ?? forecast.created_at) / 1000;
  const x = series.map((_, i) => start + i * 3600);
  const lines = useMemo(() => [{ label: "Forecast per hour", color: "#1f4fd1", values: series }], [forecast.id, metric]);
  if (series.length === 0) return null;
  const { format, name } = METRICS[metric];
  return (
    <ChartFrame
      title={`Latest forecast, hour by hour (${name.toLowerCase()})`}
      summary={`The newest forecast's ${name.toLowerCase()} for each of its ${series.length} hours from ${platformHour(forecast.period_start)}; the daily rhythm shows as waves.`}
      table={{ columns: ["Hour (UTC)", name], rows: series.map((v, i) => [platformHour(new Date((start + i * 3600) * 1000).toISOString()), v === null ? "—" : format(v)]) }}
    >
      <TimeChart x={x} lines={lines} height={180} yFormat={(v) => format(v)} />
    </ChartFrame>
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
  const latest = all.find((f) => f.hourly_forecast) ?? null;
  const { format, name } = METRICS[metric];

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
            {latest && metric !== "roas" ? <HourlyPath forecast={latest} metric={metric} /> : null}
          </div>
        )}
      </Card>
      <Card title="Every forecast" labelledBy="forecast-list-title" description={`${campaignName(campaign)}, ${horizon === 24 ? "next 24 hours" : "next 7 days"}, newest first.`}>
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Forecasts, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Period (platform time)</th>
                <th scope="col" class="num">{name} forecast</th>
                <th scope="col" class="num">80% interval</th>
                <th scope="col" class="num">Actual</th>
                <th scope="col">In interval</th>
                <th scope="col" class="num">MASE</th>
                <th scope="col" class="num">Accuracy</th>
                <th scope="col">Model</th>
              </tr>
            </thead>
            <tbody>
              {list.items.length === 0 ? (
                <tr>
                  <td colSpan={8} class="empty">
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
                  return (
                    <tr key={f.id}>
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
                    </tr>
                  );
                })
              )}
            </tbody>
          </table>
        </div>
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="forecasts" />
      </Card>
    </>
  );
}
