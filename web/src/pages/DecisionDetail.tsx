import type { ComponentChildren } from "preact";

import { api } from "../api";
import { Severity, Status } from "../components/status";
import { Card, ErrorNote, JsonDetails, Loading, PageHeader } from "../components/ui";
import { campaignName } from "../lib/campaigns";
import { label, money, num, pct, platformHour, ratio, readableInstants, shortId, signedPct, when } from "../lib/format";
import { at, numAt, record, records, strAt } from "../lib/json";
import { usePolled } from "../lib/live";
import { Link } from "../lib/router";
import { settingValue } from "../components/RollbackDialog";
import { actualText, decisionCampaign, predictedText } from "./Decisions";

const METRIC_ROWS: [string, string, (v: unknown) => string][] = [
  ["spend", "Spend", (v) => money(v)],
  ["revenue", "Revenue", (v) => money(v)],
  ["conversions", "Conversions", (v) => num(v, 0)],
  ["roas", "ROAS", (v) => ratio(v)],
  ["clicks", "Clicks", (v) => num(v, 0)],
  ["impressions", "Impressions", (v) => num(v, 0)],
  ["ctr", "CTR", (v) => pct(v, 2)],
  ["cvr", "CVR", (v) => pct(v, 2)],
  ["cpc", "CPC", (v) => money(v)],
  ["hours", "Hours of data", (v) => num(v, 0)],
];

function actionText(action: Record<string, unknown>): string {
  const kind = strAt(action, "kind");
  const from = action["from"];
  const to = action["to"];
  const multiplier = numAt(action, "multiplier");
  if (multiplier !== null) return `${label(kind)} × ${num(multiplier, 3)}`;
  if (from !== undefined && to !== undefined) return `${label(kind)}: ${settingValue(kind, from)} → ${settingValue(kind, to)}`;
  if (to !== undefined) return `${label(kind)} to ${settingValue(kind, to)}`;
  return label(kind);
}

function Fact({ name, children }: { name: string; children: ComponentChildren }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>{children}</dd>
    </>
  );
}

export function DecisionDetail({ id }: { id: string }) {
  const { data: d, error, loading } = usePolled(() => api.getDecision(id), id, 15_000);

  if (loading && !d) {
    return (
      <>
        <PageHeader title="Decision" />
        <Loading what="Loading the decision…" />
      </>
    );
  }
  if (!d) {
    return (
      <>
        <PageHeader title="Decision" />
        <ErrorNote error={error} prefix="Could not load this decision." />
        <Link href="/decisions">Back to decisions</Link>
      </>
    );
  }

  const context = d.context_data;
  const metrics = at(context, "metrics");
  const last24 = at(metrics, "last_24h");
  const prior = at(metrics, "prior_7d");
  const risks = records(at(context, "risks"));
  const triggers = at(context, "trigger_alert_ids");
  const p = d.impact_prediction;
  const a = d.actual_impact;
  const outcome = d.outcome;
  const action = record(at(context, "action"));

  return (
    <>
      <div class="breadcrumb">
        <Link href="/decisions">← Decisions</Link>
      </div>
      <PageHeader
        title={`Decision: ${label(d.action_taken ?? d.decision_type)}`}
        description={`${campaignName(decisionCampaign(d))} · ${when(d.created_at)}`}
      >
        <Status value={d.validation_status} />
      </PageHeader>
      <div class="grid grid-2">
        <Card title="Rationale">
          <p style={{ marginTop: 0 }}>{d.decision_rationale ?? "No rationale was recorded."}</p>
          <dl class="facts">
            <Fact name="Type">{label(d.decision_type)}</Fact>
            <Fact name="Confidence">{d.confidence_score === null ? "—" : `${num(d.confidence_score, 1)}%`}</Fact>
            {action ? (
              <Fact name="Action">{actionText(action)}</Fact>
            ) : null}
            <Fact name="Rule">{label(strAt(context, "rule"))}</Fact>
            <Fact name="Data as of">{platformHour(strAt(context, "as_of"))}</Fact>
            <Fact name="Model">
              {strAt(context, "model", "name") ?? "—"} {strAt(context, "model", "version") ?? ""}
            </Fact>
            <Fact name="Cycle">{d.cycle_id ? shortId(d.cycle_id) : "—"}</Fact>
          </dl>
        </Card>
        <Card title="What was done">
          {outcome ? (
            <dl class="facts">
              <Fact name="Outcome">
                <Status value={strAt(outcome, "status")} />
              </Fact>
              <Fact name="Summary">{strAt(outcome, "summary") ?? "—"}</Fact>
              {strAt(outcome, "optimization_id") ? (
                <Fact name="Change">
                  <Link href={`/optimizations?cause_type=decision`}>Change {shortId(strAt(outcome, "optimization_id"))}</Link>
                </Fact>
              ) : null}
              {strAt(outcome, "recommendation_id") ? (
                <Fact name="Recommendation">
                  <Link href="/recommendations?status=all">Recommendation {shortId(strAt(outcome, "recommendation_id"))}</Link>
                </Fact>
              ) : null}
              {strAt(outcome, "held_back", "detail") ? (
                <Fact name="Held back">{readableInstants(strAt(outcome, "held_back", "detail") ?? "")}</Fact>
              ) : null}
              {strAt(outcome, "failure_reason") ? <Fact name="Failure">{strAt(outcome, "failure_reason")}</Fact> : null}
              <Fact name="When">{when(d.outcome_at)}</Fact>
            </dl>
          ) : (
            <p class="muted">Not carried out yet.</p>
          )}
        </Card>
      </div>

      <div class="grid grid-2" style={{ marginTop: "1rem" }}>
        <Card title="Predicted impact">
          <dl class="facts">
            <Fact name="Prediction">{predictedText(d)}</Fact>
            <Fact name="Horizon">{numAt(p, "horizon_hours") ?? "—"} hours</Fact>
            <Fact name="Source">{label(strAt(p, "source"))}</Fact>
            {numAt(p, "spend_change") !== null ? <Fact name="Spend change">{signedPct(numAt(p, "spend_change"))}</Fact> : null}
            {numAt(p, "marginal_roas", "old") !== null ? (
              <Fact name="Marginal ROAS">
                {ratio(numAt(p, "marginal_roas", "old"))} → {ratio(numAt(p, "marginal_roas", "new"))}
              </Fact>
            ) : null}
            {at(p, "curve") ? (
              <Fact name="Response curve">
                {at(p, "curve", "supported") === true ? "supported by the data" : `cautious: ${strAt(p, "curve", "reason") ?? "not yet supported"}`}
                {numAt(p, "curve", "r_squared") !== null ? ` (R² ${num(numAt(p, "curve", "r_squared"), 2)}, ${num(numAt(p, "curve", "n_days"), 0)} days)` : ""}
              </Fact>
            ) : null}
          </dl>
        </Card>
        <Card title="Actual outcome">
          {a ? (
            <>
              <p style={{ marginTop: 0 }}>{strAt(a, "reason") ?? actualText(d)}</p>
              <dl class="facts">
                <Fact name="Measured effect">{actualText(d)}</Fact>
                <Fact name="Before → after">
                  {num(numAt(a, "before"))} → {num(numAt(a, "after"))}
                </Fact>
                <Fact name="Counterfactual">
                  {num(numAt(a, "counterfactual"))} ({label(strAt(a, "counterfactual_source"))})
                </Fact>
                <Fact name="Error vs prediction">{signedPct(numAt(a, "error"))}</Fact>
                <Fact name="Inside the interval">{at(a, "in_interval") === true ? "Yes" : at(a, "in_interval") === false ? "No" : "—"}</Fact>
                <Fact name="Right direction">{at(a, "sign_ok") === true ? "Yes" : at(a, "sign_ok") === false ? "No" : "—"}</Fact>
                {numAt(a, "profit_effect") !== null ? <Fact name="Profit effect">{money(numAt(a, "profit_effect"))}</Fact> : null}
                <Fact name="Window">
                  {platformHour(strAt(a, "window_start"))} – {platformHour(strAt(a, "window_end"))}
                </Fact>
              </dl>
            </>
          ) : (
            <p class="muted">
              Measured after the {numAt(p, "horizon_hours") ?? ""}-hour horizon; until then the decision is pending.
            </p>
          )}
        </Card>
      </div>

      <Card title="Evidence" description="The numbers the decision was made on." class="" >
        <div class="grid grid-2">
          <div class="table-wrap">
            <table>
              <caption>Campaign metrics</caption>
              <thead>
                <tr>
                  <th scope="col">Metric</th>
                  <th scope="col" class="num">Last 24 h</th>
                  <th scope="col" class="num">Prior 7 days</th>
                </tr>
              </thead>
              <tbody>
                {METRIC_ROWS.map(([key, name, format]) => (
                  <tr key={key}>
                    <th scope="row" style={{ fontWeight: 500 }}>
                      {name}
                    </th>
                    <td class="num">{format(at(last24, key))}</td>
                    <td class="num">{format(at(prior, key))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="stack">
            <dl class="facts">
              <Fact name="Target ROAS">{ratio(numAt(context, "target_roas"))}</Fact>
              <Fact name="Daily budget">{money(numAt(context, "daily_budget"))}</Fact>
              <Fact name="Budget used">{pct(numAt(context, "utilisation"), 0)}</Fact>
              <Fact name="Evidence strength">{pct(numAt(context, "evidence"), 0)}</Fact>
              <Fact name="Calibration factor">{num(numAt(context, "calibration"), 2)}</Fact>
              <Fact name="Triggered by">
                {Array.isArray(triggers) && triggers.length > 0 ? (
                  <Link href="/alerts?status=all">{triggers.length} alert{triggers.length === 1 ? "" : "s"}</Link>
                ) : (
                  "the schedule"
                )}
              </Fact>
            </dl>
            {risks.length > 0 ? (
              <div class="table-wrap">
                <table>
                  <caption>Risks at the time</caption>
                  <thead>
                    <tr>
                      <th scope="col">Risk</th>
                      <th scope="col">Level</th>
                      <th scope="col" class="num">Probability (0–10)</th>
                    </tr>
                  </thead>
                  <tbody>
                    {risks.map((r, i) => (
                      <tr key={i}>
                        <th scope="row" style={{ fontWeight: 500 }}>
                          {label(strAt(r, "risk_type"))}
                        </th>
                        <td>
                          <Severity value={strAt(r, "risk_level")} />
                        </td>
                        <td class="num">{num(numAt(r, "probability_score"), 1)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
          </div>
        </div>
        <div style={{ marginTop: "0.8rem" }}>
          <JsonDetails summary="All recorded context (JSON)" value={{ context_data: d.context_data, impact_prediction: d.impact_prediction, actual_impact: d.actual_impact, outcome: d.outcome }} />
        </div>
      </Card>
    </>
  );
}
