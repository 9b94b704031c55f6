import { api, type Experiment, type QueryOf } from "../api";
import { ChartFrame } from "../components/charts/ChartFrame";
import { IntervalChart, type IntervalRow } from "../components/charts/svg";
import { Status } from "../components/status";
import { Badge, Card, ErrorNote, ListFoot, LiveStamp, Loading, NewRows, Notice, PageHeader, SelectField, TableWrap } from "../components/ui";
import { campaignName } from "../lib/campaigns";
import { useFilters, sent } from "../lib/filters";
import { fixed, int, label, num, pct, shortId, signedPct, when } from "../lib/format";
import { at, boolAt, numAt, records, strAt } from "../lib/json";
import { useLiveList } from "../lib/live";
import { Link } from "../lib/router";

function chance(value: number | null): string {
  if (value === null) return "—";
  if (value > 0.999) return "> 99.9%";
  if (value < 0.001) return "< 0.1%";
  return pct(value, 1);
}

/** A difference between two variants: percentage points for a rate, the metric's own
 * units for a mean; signed either way. */
function signedDifference(value: number | null, rate: boolean, digits = 2): string {
  if (value === null) return "—";
  const size = rate ? `${num(Math.abs(value) * 100, digits)} pp` : num(Math.abs(value), digits + 1);
  return value > 0 ? `+${size}` : value < 0 ? `−${size}` : size;
}

function analysisOf(e: Experiment): unknown {
  return at(e.results, "analysis") ?? e.results;
}

function Readout({ experiment: e }: { experiment: Experiment }) {
  const analysis = analysisOf(e);
  const variants = records(at(analysis, "variants"));
  const srmOk = boolAt(analysis, "srm_ok");
  const srmP = numAt(analysis, "srm_p_value");
  const level = numAt(analysis, "method", "interval_level") ?? 0.95;
  const higherIsBetter = boolAt(analysis, "method", "higher_is_better") ?? true;
  const conclusion = e.conclusion;
  const rate = e.metric_kind === "rate";
  // The interval shown is the difference's: the p-value and the verdict come from the test
  // on the difference, so its interval leaves out zero exactly when the verdict says
  // "significant" (the relative lift's interval adds the control's own uncertainty and
  // may cross zero when the test does not).
  const diff = (value: number | null, digits = 2) => signedDifference(value, rate, digits);
  const rows: IntervalRow[] = variants.map((v, i) => {
    const lift = numAt(v, "absolute_lift");
    const low = numAt(v, "absolute_ci_low");
    const high = numAt(v, "absolute_ci_high");
    const better = low !== null && (higherIsBetter ? low > 0 : (high ?? 0) < 0);
    const worse = high !== null && (higherIsBetter ? high < 0 : (low ?? 0) > 0);
    return {
      label: strAt(v, "name") ?? `variant ${i}`,
      estimate: i === 0 ? null : lift,
      low: i === 0 ? null : low,
      high: i === 0 ? null : high,
      note: "control (baseline)",
      tone: better ? "good" : worse ? "bad" : "neutral",
    };
  });

  return (
    <div class="stack">
      {srmOk === false ? (
        <div class="notice notice-bad" role="alert">
          <strong>▲ Sample ratio mismatch.</strong> The users each variant got differ from the planned split ({(e.traffic_split ?? []).map((s) => pct(s, 0)).join(" / ")}) by more than chance allows (p = {srmP === null ? "—" : srmP.toPrecision(2)}). Something in the assignment or tracking is off: do not trust these results until it is found.
        </div>
      ) : null}
      <div class="grid grid-2">
        <div>
          <h3>Decision</h3>
          {conclusion ? (
            <dl class="facts" style={{ marginTop: "0.4rem" }}>
              <dt>Winner</dt>
              <dd>
                {e.winner_variant ? <Badge tone="good">{e.winner_variant}</Badge> : <Badge tone="neutral">No winner: keep the control</Badge>}
              </dd>
              <dt>Why</dt>
              <dd>{strAt(conclusion, "detail") ?? label(strAt(conclusion, "rule"))}</dd>
              <dt>Decided by</dt>
              <dd>
                {label(strAt(conclusion, "chosen_by"))} at look {num(numAt(conclusion, "look"), 0)}, {when(e.concluded_at)}
              </dd>
              {strAt(conclusion, "apply", "outcome") ? (
                <>
                  <dt>On the platform</dt>
                  <dd>
                    {label(strAt(conclusion, "apply", "outcome"))}
                    {e.applied_optimization_id ? (
                      <>
                        {" "}
                        (<Link href="/optimizations?cause_type=experiment">change {shortId(e.applied_optimization_id)}</Link>)
                      </>
                    ) : null}
                  </dd>
                </>
              ) : null}
            </dl>
          ) : (
            <p class="muted">
              {e.status === "running"
                ? `Running: no decision yet. ${numAt(analysis, "look") !== null ? `Look ${num(numAt(analysis, "look"), 0)}; ` : ""}${boolAt(analysis, "planned_sample_reached") ? "the planned sample is reached." : `the plan needs ${int(numAt(e.sample_size_calculation, "users_per_variant"))} users per variant.`}`
                : `${label(e.status)}: no decision yet.`}
            </p>
          )}
        </div>
        <div>
          <h3>Design</h3>
          <dl class="facts" style={{ marginTop: "0.4rem" }}>
            <dt>Hypothesis</dt>
            <dd>{e.hypothesis ?? "—"}</dd>
            <dt>Metric</dt>
            <dd>
              {label(e.metric_name)} ({e.metric_kind}), minimum detectable effect {e.mde_kind === "relative" ? pct(e.minimum_detectable_effect, 0) : num(e.minimum_detectable_effect)}
            </dd>
            <dt>Analysis</dt>
            <dd>{strAt(analysis, "method", "test") ?? "—"}{boolAt(analysis, "sequential") ? " (sequential: may stop early)" : ""}</dd>
            <dt>Sample ratio check</dt>
            <dd>{srmOk === null ? "—" : `${srmOk ? "passed" : "failed"} (p = ${srmP === null ? "—" : srmP < 0.001 ? srmP.toPrecision(2) : fixed(srmP, 3)})`}</dd>
          </dl>
        </div>
      </div>
      {variants.length > 0 ? (
        <>
          <ChartFrame
            title={`Difference from the control, ${pct(level, 0)} interval`}
            summary={`Difference of each variant from the control${rate ? " in percentage points" : ""} with its ${pct(level, 0)} interval, on an axis centred on no difference: ${rows
              .slice(1)
              .map((r) => `${r.label} ${diff(r.estimate)} (from ${diff(r.low)} to ${diff(r.high)})`)
              .join("; ")}.`}
            table={{
              columns: ["Variant", "Difference", "Interval low", "Interval high"],
              rows: rows.map((r) => [r.label, r.estimate === null ? "baseline" : diff(r.estimate), diff(r.low), diff(r.high)]),
            }}
          >
            <IntervalChart rows={rows} format={(v) => diff(v, 1)} />
          </ChartFrame>
          <TableWrap label="Each variant's results">
            <table>
              <caption class="visually-hidden">Each variant's results</caption>
              <thead>
                <tr>
                  <th scope="col">Variant</th>
                  <th scope="col" class="num">Users</th>
                  <th scope="col" class="num">{rate ? "Conversion rate" : "Mean"}</th>
                  <th scope="col" class="num">Lift</th>
                  <th scope="col" class="num">Difference</th>
                  <th scope="col" class="num">{pct(level, 0)} interval</th>
                  <th scope="col" class="num">Chance to win</th>
                  <th scope="col" class="num">p-value</th>
                  <th scope="col">Verdict</th>
                </tr>
              </thead>
              <tbody>
                {variants.map((v, i) => (
                  <tr key={i}>
                    <th scope="row" style={{ fontWeight: 600 }}>
                      {strAt(v, "name")}
                      {i === 0 ? <span class="muted small"> (control)</span> : null}
                    </th>
                    <td class="num">{int(numAt(v, "users"))}</td>
                    <td class="num">{rate ? pct(numAt(v, "mean"), 2) : num(numAt(v, "mean"), 3)}</td>
                    <td class="num">{i === 0 ? "—" : signedPct(numAt(v, "lift"))}</td>
                    <td class="num">{i === 0 ? "—" : diff(numAt(v, "absolute_lift"))}</td>
                    <td class="num">{i === 0 ? "—" : `${diff(numAt(v, "absolute_ci_low"))} to ${diff(numAt(v, "absolute_ci_high"))}`}</td>
                    <td class="num">{i === 0 ? "—" : chance(numAt(v, "chance_to_win"))}</td>
                    <td class="num">{i === 0 ? "—" : (numAt(v, "p_value_adjusted") ?? numAt(v, "p_value"))?.toPrecision(2) ?? "—"}</td>
                    <td>{i === 0 ? null : boolAt(v, "significant") ? <Badge tone="good">Significant</Badge> : <Badge tone="neutral">Not significant</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </>
      ) : (
        <p class="muted">No results yet.</p>
      )}
    </div>
  );
}

export function Experiments() {
  const filters = useFilters(["status", "experiment_type", "id"] as const);
  const { id, ...apiFilters } = filters.values;
  const query = sent(apiFilters) as QueryOf<"listExperiments">;
  const list = useLiveList<Experiment>((q) => api.listExperiments({ ...query, ...q }), filters.key.replace(/id=[^&]*/, ""));
  const chosen = list.items.find((e) => e.id === id) ?? list.items[0] ?? null;

  return (
    <>
      <PageHeader title="Experiments" description="A/B tests on ad copy, landing pages and audiences: the lift of each variant with its interval, the chance it beats the control, and the decision.">
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <Card>
        <div class="filters" role="search" aria-label="Filter experiments">
          <SelectField label="Status" value={filters.values.status} allLabel="All" options={["planning", "running", "analyzing", "completed"].map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("status", v)} />
          <SelectField label="Type" value={filters.values.experiment_type} allLabel="All" options={["creative", "landing_page", "audience", "bidding", "other"].map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("experiment_type", v)} />
        </div>
        <ErrorNote error={list.error} prefix="Could not load experiments." />
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        {list.loading ? (
          <Loading what="Loading experiments…" />
        ) : (
          <TableWrap label="Experiments">
            <table>
              <caption class="visually-hidden">Experiments, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Experiment</th>
                  <th scope="col">Campaign</th>
                  <th scope="col">Status</th>
                  <th scope="col">Winner</th>
                  <th scope="col" class="num">Looks</th>
                  <th scope="col">Started</th>
                  <th scope="col"><span class="visually-hidden">Open</span></th>
                </tr>
              </thead>
              <tbody>
                {list.items.length === 0 ? (
                  <tr>
                    <td colSpan={7} class="empty">
                      No experiments match these filters.
                    </td>
                  </tr>
                ) : (
                  list.items.map((e) => (
                    <tr key={e.id} class={chosen?.id === e.id ? "selected" : undefined}>
                      <td>
                        <div class="title">{e.experiment_name}</div>
                        <div class="desc">{label(e.experiment_type)} · {label(e.metric_name)}</div>
                      </td>
                      <td>{e.campaign_id ? campaignName(e.campaign_id) : <span class="muted">none</span>}</td>
                      <td>
                        <Status value={e.status} />
                        {boolAt(analysisOf(e), "srm_ok") === false ? <div><Badge tone="bad">SRM</Badge></div> : null}
                      </td>
                      <td>{e.winner_variant ?? <span class="muted">—</span>}</td>
                      <td class="num">{e.results_count}</td>
                      <td class="nowrap">{when(e.started_at)}</td>
                      <td>
                        <button type="button" class="small" aria-pressed={chosen?.id === e.id} onClick={() => filters.set("id", e.id)}>
                          Show readout<span class="visually-hidden">: {e.experiment_name}</span>
                        </button>
                      </td>
                    </tr>
                  ))
                )}
              </tbody>
            </table>
          </TableWrap>
        )}
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="experiments" />
      </Card>
      {chosen ? (
        <Card title={`Readout: ${chosen.experiment_name}`} labelledBy="readout-title">
          <Readout experiment={chosen} />
        </Card>
      ) : null}
      {!chosen && !list.loading ? (
        <Notice tone="info">Choose an experiment to see its readout.</Notice>
      ) : null}
    </>
  );
}
