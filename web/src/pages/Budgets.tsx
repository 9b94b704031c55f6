import { useMemo, useState } from "preact/hooks";

import {
  api,
  describeError,
  type BudgetPool,
  type CampaignAllocation,
  type CurveFit,
  type Reallocation,
  type ReallocationPlan,
} from "../api";
import { ChartFrame } from "../components/charts/ChartFrame";
import { BarChart, CurveChart, type Marker } from "../components/charts/svg";
import { TimeChart } from "../components/charts/TimeChart";
import { Status } from "../components/status";
import {
  Card,
  Dialog,
  ErrorNote,
  Loading,
  Notice,
  PageHeader,
  SelectField,
} from "../components/ui";
import { campaignName, campaigns } from "../lib/campaigns";
import { useFilters } from "../lib/filters";
import { compact, day, label, money, num, pct, platformHour, ratio, signedPct, when } from "../lib/format";
import { numAt, record, records, strAt } from "../lib/json";
import { useLiveList, usePolled } from "../lib/live";
import { can } from "../lib/session";

const PALETTE = ["#1f4fd1", "#11693a", "#b4460b", "#7a3fb3", "#0f7c8c", "#a1161c", "#6b5200", "#3d4757"];

/** A plan's campaigns, whether from a simulation or a stored reallocation. */
function allocations(source: ReallocationPlan | Reallocation | null): CampaignAllocation[] {
  if (!source) return [];
  return records(source.campaigns).map((c) => ({
    campaign_id: strAt(c, "campaign_id") ?? "",
    name: strAt(c, "name"),
    old_budget: numAt(c, "old_budget") ?? 0,
    new_budget: numAt(c, "new_budget") ?? 0,
    marginal_roas_old: numAt(c, "marginal_roas_old") ?? 0,
    marginal_roas_new: numAt(c, "marginal_roas_new") ?? 0,
    bound_by: (strAt(c, "bound_by") ?? "none") as CampaignAllocation["bound_by"],
    floor: numAt(c, "floor") ?? 0,
    cap: numAt(c, "cap") ?? 0,
    predicted: (record(c["predicted"]) ?? {}) as CampaignAllocation["predicted"],
    curve: (record(c["curve"]) ?? {}) as CampaignAllocation["curve"],
    reason: strAt(c, "reason") ?? "",
  }));
}

function nameOf(a: CampaignAllocation): string {
  return a.name ?? campaignName(a.campaign_id);
}

function Split({ plan, source }: { plan: CampaignAllocation[]; source: string }) {
  const names = plan.map(nameOf);
  const totalOld = plan.reduce((s, a) => s + a.old_budget, 0);
  const totalNew = plan.reduce((s, a) => s + a.new_budget, 0);
  return (
    <>
      <ChartFrame
        title="Current vs proposed daily budgets"
        summary={`Daily budget per campaign, current and proposed (${source}): ${plan
          .map((a) => `${nameOf(a)} ${money(a.old_budget, 0)} to ${money(a.new_budget, 0)}`)
          .join("; ")}.`}
        table={{
          columns: ["Campaign", "Current", "Proposed", "Change"],
          rows: plan.map((a) => [nameOf(a), money(a.old_budget), money(a.new_budget), a.old_budget ? signedPct(a.new_budget / a.old_budget - 1) : "—"]),
        }}
        legend={[
          { label: "Current", color: "#9aa7c0" },
          { label: "Proposed", color: "#1f4fd1" },
        ]}
      >
        <BarChart
          categories={names}
          series={[
            { label: "Current", color: "#9aa7c0", values: plan.map((a) => a.old_budget) },
            { label: "Proposed", color: "#1f4fd1", values: plan.map((a) => a.new_budget) },
          ]}
          format={(v) => compact(v)}
        />
      </ChartFrame>
      <div class="table-wrap" style={{ marginTop: "0.8rem" }}>
        <table>
          <caption class="visually-hidden">Why each campaign gets its budget</caption>
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col" class="num">Current</th>
              <th scope="col" class="num">Proposed</th>
              <th scope="col" class="num">Share</th>
              <th scope="col" class="num">Marginal ROAS</th>
              <th scope="col">Held by</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {plan.map((a) => (
              <tr key={a.campaign_id}>
                <th scope="row" style={{ fontWeight: 600 }}>
                  {nameOf(a)}
                </th>
                <td class="num">{money(a.old_budget, 0)}</td>
                <td class="num">{money(a.new_budget, 0)}</td>
                <td class="num">{pct(totalNew ? a.new_budget / totalNew : null, 1)}</td>
                <td class="num">
                  {ratio(a.marginal_roas_old)} → {ratio(a.marginal_roas_new)}
                </td>
                <td>{a.bound_by === "none" ? <span class="muted">nothing</span> : label(a.bound_by)}</td>
                <td class="small">{a.reason}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">Total</th>
              <td class="num">{money(totalOld, 0)}</td>
              <td class="num">{money(totalNew, 0)}</td>
              <td colSpan={4} />
            </tr>
          </tfoot>
        </table>
      </div>
    </>
  );
}

function History({ runs }: { runs: Reallocation[] }) {
  const ordered = [...runs].filter((r) => r.as_of).sort((a, b) => (a.as_of ?? "").localeCompare(b.as_of ?? ""));
  const ids = new Map<string, string>();
  for (const run of ordered) for (const a of allocations(run)) ids.set(a.campaign_id, nameOf(a));
  const campaignIds = [...ids.keys()];
  const x = ordered.map((r) => Date.parse(r.as_of ?? r.created_at) / 1000);
  const lines = useMemo(
    () =>
      campaignIds.map((id, i) => ({
        label: ids.get(id) ?? id,
        color: PALETTE[i % PALETTE.length]!,
        values: ordered.map((r) => allocations(r).find((a) => a.campaign_id === id)?.new_budget ?? null),
      })),
    // The runs, not the array holding them, decide the lines.
    [ordered.map((r) => r.id).join(",")],
  );
  if (ordered.length < 2) return <p class="muted">The chart appears after the pool has been reallocated twice.</p>;
  return (
    <ChartFrame
      title="Daily budget per campaign after each reallocation"
      summary={`Daily budget of each of the pool's ${campaignIds.length} campaigns after each of the last ${ordered.length} reallocations, from ${day(ordered[0]?.as_of)} to ${day(ordered.at(-1)?.as_of)} (platform time).`}
      table={{
        columns: ["Reallocation (platform time)", ...campaignIds.map((id) => ids.get(id) ?? id)],
        rows: ordered.map((r, i) => [platformHour(r.as_of), ...lines.map((l) => (l.values[i] === null ? "—" : money(l.values[i], 0)))]),
      }}
      legend={lines.map((l) => ({ label: l.label, color: l.color }))}
    >
      <TimeChart x={x} lines={lines} height={240} />
    </ChartFrame>
  );
}

function Curve({ pool, plan }: { pool: BudgetPool; plan: CampaignAllocation[] }) {
  const [chosen, setChosen] = useState(pool.campaign_ids[0] ?? "");
  const [metric, setMetric] = useState<"revenue" | "conversions">("revenue");
  const curves = usePolled(() => api.getCampaignCurve(chosen), `curve:${chosen}`, 120_000, chosen !== "");
  const fit: CurveFit | null | undefined = curves.data?.[metric];
  const campaign = campaigns.value.get(chosen);
  const allocation = plan.find((a) => a.campaign_id === chosen);
  const current = campaign?.daily_budget ?? allocation?.old_budget ?? null;
  const markers: Marker[] = [];
  if (current !== null) markers.push({ spend: current, label: `Current ${compact(current)}`, color: "#374151" });
  if (allocation) markers.push({ spend: allocation.new_budget, label: `Optimal for the pool ${compact(allocation.new_budget)}`, color: "#11693a" });
  const line = (fit?.line ?? []).map((p) => ({
    spend: p["spend"] ?? 0,
    predicted: p["predicted"] ?? 0,
    low: p["low"] ?? 0,
    high: p["high"] ?? 0,
  }));
  const observed = (fit?.points ?? []).map((p) => ({ spend: numAt(p, "spend") ?? 0, value: numAt(p, "value") ?? 0 }));
  const at = (spend: number | null) => {
    if (spend === null || line.length === 0) return null;
    const after = line.findIndex((p) => p.spend >= spend);
    if (after <= 0) return line[0]?.predicted ?? null;
    const a = line[after - 1]!;
    const b = line[after]!;
    return a.predicted + ((b.predicted - a.predicted) * (spend - a.spend)) / (b.spend - a.spend || 1);
  };
  const metricName = metric === "revenue" ? "Revenue" : "Conversions";
  return (
    <Card title="Response curve" labelledBy="curve-title" description="What a campaign returns per day at each daily spend, fitted from its complete days, with the current budget and the pool's optimum marked.">
      <div class="filters">
        <SelectField label="Campaign" id="curve-campaign" value={chosen} options={pool.campaign_ids.map((id) => ({ value: id, label: campaignName(id) }))} onChange={setChosen} />
        <SelectField label="Return" id="curve-metric" value={metric} options={[{ value: "revenue", label: "Revenue" }, { value: "conversions", label: "Conversions" }]} onChange={(v) => setMetric(v as "revenue" | "conversions")} />
      </div>
      <ErrorNote error={curves.error} />
      {curves.loading && !curves.data ? (
        <Loading what="Loading the curve…" />
      ) : !fit ? (
        <p class="muted">No curve yet: the campaign needs a few complete days of data.</p>
      ) : (
        <>
          <ChartFrame
            title={`${metricName} per day against daily spend: ${campaignName(chosen)}`}
            summary={`Fitted response curve of ${metricName.toLowerCase()} per day against daily spend for ${campaignName(chosen)}, with its ${fit.supported ? "" : "cautious, not yet supported, "}interval band and ${observed.length} observed days. Current budget ${current === null ? "unknown" : money(current, 0)} (curve ${num(at(current), 0)}); the pool's optimum ${allocation ? money(allocation.new_budget, 0) : "not computed"} (curve ${num(at(allocation?.new_budget ?? null), 0)}).`}
            table={{
              columns: ["Daily spend", `Predicted ${metricName.toLowerCase()}`, "Low", "High"],
              rows: line.map((p) => [money(p.spend, 0), num(p.predicted, 0), num(p.low, 0), num(p.high, 0)]),
            }}
            legend={[
              { label: "Fitted curve", color: "#1f4fd1" },
              { label: "Interval", color: "#1f4fd1", kind: "band" },
              { label: "Observed days", color: "#374151", kind: "point" },
              { label: "Current budget", color: "#374151" },
              { label: "Optimal for the pool", color: "#11693a", kind: "dashed" },
            ]}
          >
            <CurveChart line={line} observed={observed} markers={markers} />
          </ChartFrame>
          <p class="small muted">
            {fit.supported ? "Supported by the data" : `Cautious curve: ${fit.reason ?? "not yet supported by the data"}`} · {fit.n_days} days ({day(fit.window_start)}–{day(fit.window_end)}) · R² {num(fit.r_squared, 2)}
          </p>
        </>
      )}
    </Card>
  );
}

function PoolView({ pool }: { pool: BudgetPool }) {
  const runs = useLiveList<Reallocation>((q) => api.listBudgetReallocations(pool.id, q), `runs:${pool.id}`, { limit: 60 });
  const [plan, setPlan] = useState<ReallocationPlan | null>(null);
  const [busy, setBusy] = useState<"simulate" | "reallocate" | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [message, setMessage] = useState<{ tone: "good" | "bad"; text: string } | null>(null);
  const operator = can("operator");
  const latest = runs.items.find((r) => r.status !== "running" && r.status !== "failed") ?? null;
  const shown = plan ? allocations(plan) : allocations(latest);
  const thresholds = record(pool.performance_thresholds);

  const simulate = async () => {
    setBusy("simulate");
    setMessage(null);
    try {
      setPlan(await api.simulateBudgetPool(pool.id));
    } catch (e) {
      setMessage({ tone: "bad", text: `Could not simulate: ${describeError(e)}` });
    } finally {
      setBusy(null);
    }
  };
  const reallocate = async () => {
    setBusy("reallocate");
    setMessage(null);
    try {
      const run = await api.reallocateBudgetPool(pool.id);
      setConfirming(false);
      setPlan(null);
      setMessage({ tone: "good", text: `Reallocated: ${label(run.status)} (autonomy ${run.autonomy ?? "—"}).` });
      runs.refresh();
    } catch (e) {
      setConfirming(false);
      setMessage({ tone: "bad", text: `Could not reallocate: ${describeError(e)}` });
    } finally {
      setBusy(null);
    }
  };

  return (
    <div class="stack">
      <Card
        title={pool.budget_pool_name}
        labelledBy="pool-title"
        description={`${label(pool.allocation_strategy)} · reallocated ${label(pool.reallocation_frequency).toLowerCase()} · ${pool.campaign_ids.length} campaigns`}
        actions={
          operator ? (
            <>
              <button type="button" disabled={busy !== null} onClick={() => void simulate()}>
                {busy === "simulate" ? "Simulating…" : "Simulate now"}
              </button>
              <button type="button" class="primary" disabled={busy !== null} onClick={() => setConfirming(true)}>
                Reallocate now
              </button>
            </>
          ) : null
        }
      >
        <dl class="facts">
          <dt>Total daily budget</dt>
          <dd>{money(pool.total_budget, 0)}</dd>
          <dt>Allocated</dt>
          <dd>{money(pool.allocated_budget, 0)}</dd>
          <dt>Shares</dt>
          <dd>
            each campaign {pct(numAt(thresholds, "min_share"), 0)}–{pct(numAt(thresholds, "max_share"), 0)} of the total, moving at most {pct(numAt(thresholds, "max_step"), 0)} per run
          </dd>
          <dt>Last reallocation</dt>
          <dd>{when(pool.last_reallocation_at)} ({pool.reallocation_count} so far)</dd>
          <dt>Next</dt>
          <dd>{platformHour(pool.next_reallocation_at)}</dd>
          <dt>State</dt>
          <dd>
            <Status value={pool.is_active ? "enabled" : "disabled"} text={pool.is_active ? "Active" : "Paused"} />
          </dd>
        </dl>
        {message ? (
          <div style={{ marginTop: "0.7rem" }}>
            <Notice tone={message.tone} role="status">
              {message.text}
            </Notice>
          </div>
        ) : null}
      </Card>
      <Card
        title="Split"
        labelledBy="split-title"
        description={
          plan
            ? `Simulated now (as of ${platformHour(plan.as_of)}): nothing was applied.`
            : latest
              ? `The latest reallocation, ${platformHour(latest.as_of)} (${label(latest.status)}).`
              : "No reallocation yet."
        }
      >
        <ErrorNote error={runs.error} />
        {shown.length > 0 ? <Split plan={shown} source={plan ? "simulated now" : "latest reallocation"} /> : runs.loading ? <Loading /> : <p class="muted">Nothing to show yet.</p>}
      </Card>
      <Card title="Allocation over time" labelledBy="history-title">
        {runs.loading ? <Loading /> : <History runs={runs.items} />}
      </Card>
      <Curve pool={pool} plan={shown} />
      <Card title="Runs" labelledBy="runs-title" description="Each reallocation, newest first.">
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Reallocations of this pool</caption>
            <thead>
              <tr>
                <th scope="col">Platform time</th>
                <th scope="col">Trigger</th>
                <th scope="col">Autonomy</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">Predicted revenue</th>
              </tr>
            </thead>
            <tbody>
              {runs.items.length === 0 ? (
                <tr>
                  <td colSpan={5} class="empty">
                    No runs yet.
                  </td>
                </tr>
              ) : (
                runs.items.slice(0, 15).map((r) => (
                  <tr key={r.id}>
                    <td class="nowrap">{platformHour(r.as_of)}</td>
                    <td>{label(r.trigger)}</td>
                    <td>{label(r.autonomy)}</td>
                    <td>
                      <Status value={r.status} />
                      {r.error ? <div class="desc bad">{r.error}</div> : null}
                    </td>
                    <td class="num">
                      {money(numAt(r.predicted, "revenue", "old"), 0)} → {money(numAt(r.predicted, "revenue", "new"), 0)}
                    </td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      </Card>
      {confirming ? (
        <Dialog
          title="Reallocate this pool now?"
          onClose={() => setConfirming(false)}
          actions={
            <>
              <button type="button" onClick={() => setConfirming(false)}>
                Cancel
              </button>
              <button type="button" class="primary" disabled={busy !== null} onClick={() => void reallocate()}>
                {busy === "reallocate" ? "Reallocating…" : "Reallocate"}
              </button>
            </>
          }
        >
          <p>
            adpilot moves the pool's {money(pool.total_budget, 0)} between its {pool.campaign_ids.length} campaigns on their response curves, within the pool's shares and the safety limits.
            What happens next follows the tenant's autonomy: applied, recommended, or only recorded.
          </p>
        </Dialog>
      ) : null}
    </div>
  );
}

export function Budgets() {
  const pools = usePolled(() => api.listBudgets({ limit: 100 }), "pools", 30_000);
  const filters = useFilters(["pool"] as const);
  const items = pools.data?.items ?? [];
  const pool = items.find((p) => p.id === filters.values.pool) ?? items[0] ?? null;
  return (
    <>
      <PageHeader title="Budgets" description="Budget pools: a total daily budget that adpilot spreads over campaigns where the next dollar returns most, explaining every number." />
      <ErrorNote error={pools.error} prefix="Could not load budget pools." />
      {pools.loading && !pools.data ? (
        <Loading what="Loading budget pools…" />
      ) : items.length === 0 ? (
        <Card>
          <p class="muted">No budget pools yet. An admin creates them through the API (POST /api/ai/budgets).</p>
        </Card>
      ) : (
        <>
          {items.length > 1 ? (
            <div class="filters">
              <SelectField label="Pool" value={pool?.id ?? ""} options={items.map((p) => ({ value: p.id, label: p.budget_pool_name }))} onChange={(v) => filters.set("pool", v)} />
            </div>
          ) : null}
          {pool ? <PoolView key={pool.id} pool={pool} /> : null}
        </>
      )}
    </>
  );
}
