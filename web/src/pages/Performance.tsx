import { useMemo } from "preact/hooks";

import { api, type PerformanceScore } from "../api";
import { ChartFrame } from "../components/charts/ChartFrame";
import { ReliabilityChart, type ReliabilityBin } from "../components/charts/svg";
import { TimeChart } from "../components/charts/TimeChart";
import { Badge, Card, ErrorNote, LiveStamp, Loading, Notice, PageHeader, SelectField } from "../components/ui";
import { useFilters } from "../lib/filters";
import { fixed, int, label, money, num, pct, platformHour } from "../lib/format";
import { at, numAt, records } from "../lib/json";
import { useLiveList } from "../lib/live";

/** Fewer judged decisions than this make a calibration chart mostly noise. */
const MIN_SAMPLE = 20;

const METRICS: Record<string, { name: string; format: (v: number) => string; better: "higher" | "lower"; explain: string }> = {
  accuracy: { name: "Accuracy", format: (v) => `${fixed(v, 1)}%`, better: "higher", explain: "Share of judged decisions that were right." },
  ece: { name: "Calibration error (ECE)", format: (v) => fixed(v, 3), better: "lower", explain: "How far stated confidence is from how often decisions are right; 0 is perfect." },
  brier: { name: "Brier score", format: (v) => fixed(v, 3), better: "lower", explain: "Mean squared error of confidence against the verdicts; lower is better." },
  decision_quality: { name: "Decision quality", format: (v) => `${fixed(v, 1)}%`, better: "higher", explain: "Brier skill against always saying 50%; above 0 beats a coin." },
  roi_impact: { name: "ROI impact", format: (v) => money(v, 0), better: "higher", explain: "Summed profit effect of the decisions carried out." },
};

const TYPES = ["budget_adjustment", "campaign_pause", "keyword_bid", "audience_expansion"];

const CALIBRATORS: Record<string, string> = {
  prior: "Prior (few verdicts yet: evidence at half its log-odds)",
  platt: "Platt scaling",
  isotonic: "Isotonic regression",
};

function Trend({ score }: { score: PerformanceScore }) {
  const meta = METRICS[score.metric_type];
  if (!score.trend_direction || !meta) return null;
  const good =
    score.trend_direction === "improving" ? true : score.trend_direction === "declining" ? false : null;
  const icon = score.trend_direction === "improving" ? "↗" : score.trend_direction === "declining" ? "↘" : "→";
  return (
    <Badge tone={good === null ? "neutral" : good ? "good" : "warn"} icon={icon}>
      {label(score.trend_direction)}
      {score.benchmark_comparison !== null ? ` (was ${meta.format(score.benchmark_comparison)})` : ""}
    </Badge>
  );
}

export function Performance() {
  const filters = useFilters(["measurement_period", "decision_type", "cohort"] as const, { measurement_period: "weekly", cohort: "all" });
  const period = filters.values.measurement_period || "weekly";
  const cohort = filters.values.cohort || "all";
  const type = filters.values.decision_type;
  const list = useLiveList<PerformanceScore>(
    (q) =>
      api.listPerformance({
        measurement_period: period,
        cohort: cohort as "all" | "applied" | "not_applied",
        ...(type ? { decision_type: type as PerformanceScore["decision_type"] & string } : {}),
        ...q,
      }),
    `${period}:${cohort}:${type}`,
    { limit: 500, interval: 10_000 },
  );
  // Rows for every decision type carry none; a model version's rows are left out here.
  const rows = [...list.fresh, ...list.items].filter(
    (s) => (type ? s.decision_type === type : s.decision_type === null) && s.model_version === null,
  );
  // The newest period with enough judged decisions to read; else, of the last three, the
  // one with the most (the newest is often still filling up).
  const periods = [...new Set(rows.map((s) => s.period_start ?? ""))].sort().reverse();
  const sampleIn = (period: string) =>
    Math.max(0, ...rows.filter((s) => (s.period_start ?? "") === period).map((s) => s.sample_size ?? 0));
  const chosenPeriod =
    periods.find((p) => sampleIn(p) >= MIN_SAMPLE) ??
    periods.slice(0, 3).reduce((best, p) => (sampleIn(p) > sampleIn(best) ? p : best), periods[0] ?? "");
  const latest = new Map<string, PerformanceScore>();
  for (const s of rows) if ((s.period_start ?? "") === chosenPeriod) latest.set(s.metric_type, s);
  const ece = latest.get("ece");
  const bins: ReliabilityBin[] = records(at(ece?.details, "reliability")).map((b) => ({
    low: numAt(b, "low") ?? 0,
    high: numAt(b, "high") ?? 0,
    count: numAt(b, "count") ?? 0,
    accuracy: numAt(b, "accuracy"),
    meanConfidence: numAt(b, "mean_confidence"),
  }));
  const judged = ece?.sample_size ?? bins.reduce((s, b) => s + b.count, 0);
  const enough = judged >= MIN_SAMPLE;

  // Each type's calibrator as of its most recently calculated scores.
  const calibrators = new Map<string, PerformanceScore>();
  for (const s of [...list.fresh, ...list.items]) {
    if (!s.decision_type || s.model_version !== null || !s.calibrator) continue;
    const known = calibrators.get(s.decision_type);
    if (!known || (s.calculated_at ?? "") > (known.calculated_at ?? "")) calibrators.set(s.decision_type, s);
  }

  const accuracyRows = useMemo(
    () => rows.filter((s) => s.metric_type === "accuracy" && s.period_start).sort((a, b) => (a.period_start ?? "").localeCompare(b.period_start ?? "")),
    // The rows, not the array holding them, decide the series.
    [rows.map((r) => r.id).join(",")],
  );
  const x = accuracyRows.map((s) => Date.parse(s.period_start ?? s.created_at) / 1000);
  const lines = useMemo(() => [{ label: "Accuracy", color: "#1f4fd1", values: accuracyRows.map((s) => s.score_value) }], [accuracyRows]);

  return (
    <>
      <PageHeader title="Performance" description="How good the decisions are: each is judged after its horizon against a counterfactual, and these scores say how often the engine was right and whether its confidence can be taken at its word.">
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <div class="filters" role="search" aria-label="Choose scores">
        <SelectField label="Period" value={period} options={["hourly", "daily", "weekly"].map((p) => ({ value: p, label: label(p) }))} onChange={(v) => filters.set("measurement_period", v)} />
        <SelectField label="Decision type" value={type} allLabel="All types" options={TYPES.map((t) => ({ value: t, label: label(t) }))} onChange={(v) => filters.set("decision_type", v)} />
        <SelectField
          label="Decisions"
          value={cohort}
          options={[
            { value: "all", label: "All judged" },
            { value: "applied", label: "Carried out" },
            { value: "not_applied", label: "Not carried out" },
          ]}
          onChange={(v) => filters.set("cohort", v)}
        />
      </div>
      <ErrorNote error={list.error} prefix="Could not load scores." />
      {list.loading ? (
        <Loading what="Loading scores…" />
      ) : latest.size === 0 ? (
        <Card>
          <Notice tone="info" role="status">
            <strong>Insufficient data.</strong> No decisions of this kind have been judged in a {period} period yet: a decision is judged once its horizon (usually 24 hours of platform time) has passed.
          </Notice>
        </Card>
      ) : (
        <>
          <div class="grid grid-4">
            {(["accuracy", "ece", "decision_quality", "roi_impact"] as const).map((m) => {
              const s = latest.get(m);
              const meta = METRICS[m]!;
              return (
                <section class="card kpi" key={m} aria-label={meta.name}>
                  <span class="kpi-label">{meta.name}</span>
                  <span class="kpi-value">{s ? meta.format(s.score_value) : "—"}</span>
                  <span class="kpi-note">{meta.explain}</span>
                  {s ? (
                    <span class="kpi-note">
                      {platformHour(s.period_start)} · {int(s.sample_size)} {s.sample_size === 1 ? "decision" : "decisions"} <Trend score={s} />
                    </span>
                  ) : null}
                </section>
              );
            })}
          </div>
          <div class="grid grid-2" style={{ marginTop: "1rem" }}>
            <Card title="Calibration" labelledBy="calibration-title" description="Of the decisions stated at a given confidence, how many were right. On the dashed line, confidence means what it says.">
              {!enough ? (
                <Notice tone="warn" role="status">
                  <strong>Insufficient data:</strong> {num(judged, 0)} judged {judged === 1 ? "decision" : "decisions"} in the {period} period shown; calibration needs at least {MIN_SAMPLE} to mean much. The chart below is shown for what it is worth.
                </Notice>
              ) : null}
              {bins.length > 0 ? (
                <ChartFrame
                  title="Reliability"
                  summary={`Reliability of stated confidence in the ${period} period from ${platformHour(chosenPeriod)} (${num(judged, 0)} decisions, ECE ${fixed(ece?.score_value, 3)}): ${bins
                    .filter((b) => b.count > 0)
                    .map((b) => `stated ${pct(b.low, 0)}–${pct(b.high, 0)}: ${pct(b.accuracy, 0)} right of ${num(b.count, 0)}`)
                    .join("; ")}.`}
                  table={{
                    columns: ["Confidence stated", "Decisions", "Mean confidence", "Share right"],
                    rows: bins.map((b) => [`${pct(b.low, 0)}–${pct(b.high, 0)}`, num(b.count, 0), pct(b.meanConfidence, 1), pct(b.accuracy, 1)]),
                  }}
                  legend={[
                    { label: "Share right per band", color: "#1f4fd1", kind: "band" },
                    { label: "Mean confidence (dot size: decisions)", color: "#163c9e", kind: "point" },
                    { label: "Perfect calibration", color: "#556070", kind: "dashed" },
                  ]}
                >
                  <ReliabilityChart bins={bins} />
                </ChartFrame>
              ) : (
                <p class="muted">No reliability table for this choice yet.</p>
              )}
            </Card>
            <Card title="Accuracy over time" labelledBy="accuracy-title" description={`Share of judged decisions that were right, per ${period === "daily" ? "day" : period === "weekly" ? "week" : "hour"} of platform time.`}>
              {accuracyRows.length < 2 ? (
                <p class="muted">The chart needs two periods with judged decisions.</p>
              ) : (
                <ChartFrame
                  title="Accuracy per period"
                  summary={`Accuracy over ${accuracyRows.length} ${period} periods, from ${fixed(accuracyRows[0]?.score_value, 1)}% to ${fixed(accuracyRows.at(-1)?.score_value, 1)}%.`}
                  table={{ columns: ["Period (UTC)", "Accuracy", "Decisions"], rows: accuracyRows.map((s) => [platformHour(s.period_start), `${fixed(s.score_value, 1)}%`, int(s.sample_size)]) }}
                >
                  <TimeChart x={x} lines={lines} height={240} yFormat={(v) => `${num(v, 0)}%`} zero />
                </ChartFrame>
              )}
              {latest.get("brier") ? (
                <p class="small muted">
                  Brier score {fixed(latest.get("brier")?.score_value, 3)} · {METRICS["brier"]!.explain}
                </p>
              ) : null}
            </Card>
          </div>
          <div style={{ marginTop: "1rem" }}>
          <Card title="Confidence per decision type" labelledBy="calibrators-title" description="How each decision type's evidence becomes confidence, refitted on its judged decisions every cycle.">
            {calibrators.size === 0 ? (
              <p class="muted">No decision type has scores yet.</p>
            ) : (
              <div class="table-wrap">
                <table>
                  <caption class="visually-hidden">Calibrator in use per decision type</caption>
                  <thead>
                    <tr>
                      <th scope="col">Decision type</th>
                      <th scope="col">Calibrator</th>
                      <th scope="col">Fitted on (verdicts)</th>
                    </tr>
                  </thead>
                  <tbody>
                    {TYPES.filter((t) => calibrators.has(t)).map((t) => {
                      const s = calibrators.get(t)!;
                      return (
                        <tr key={t}>
                          <td>{label(t)}</td>
                          <td>{CALIBRATORS[s.calibrator ?? ""] ?? s.calibrator}</td>
                          <td>{num(s.calibrator_outcomes ?? 0, 0)}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
          </Card>
          </div>
        </>
      )}
    </>
  );
}
