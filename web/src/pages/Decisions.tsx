import { api, type Decision, type QueryOf } from "../api";
import { Status } from "../components/status";
import {
  Card,
  ErrorNote,
  ListFoot,
  LiveStamp,
  Loading,
  NewRows,
  PageHeader,
  SelectField,
} from "../components/ui";
import { campaignName } from "../lib/campaigns";
import { useFilters, sent } from "../lib/filters";
import { label, num, pct, signedPct, when } from "../lib/format";
import { at, numAt, strAt } from "../lib/json";
import { useLiveList } from "../lib/live";
import { Link } from "../lib/router";

export function decisionCampaign(d: Decision): string | null {
  return strAt(d.context_data, "campaign_id");
}

/** "+14.8% conversions (90% interval +1.7% to +29.7%)" */
export function predictedText(d: Decision): string {
  const p = d.impact_prediction;
  const change = numAt(p, "expected_change");
  if (change === null) return "—";
  const metric = strAt(p, "metric") ?? "";
  const low = numAt(p, "interval", "low");
  const high = numAt(p, "interval", "high");
  const level = numAt(p, "interval", "level");
  let text = `${signedPct(change)} ${metric}`;
  if (low !== null && high !== null) {
    text += ` (${level !== null ? pct(level, 0) : ""} interval ${signedPct(low)} to ${signedPct(high)})`;
  }
  return text;
}

export function actualText(d: Decision): string {
  const a = d.actual_impact;
  const effect = numAt(a, "judged_effect") ?? numAt(a, "effect");
  if (effect === null) return d.validation_status === "pending" ? "Not measured yet" : "—";
  return `${signedPct(effect)} ${strAt(a, "metric") ?? ""}`;
}

export function outcomeText(d: Decision): { status: string | null; text: string } {
  const o = d.outcome;
  return { status: strAt(o, "status"), text: strAt(o, "summary") ?? "" };
}

const TYPES = ["budget_adjustment", "campaign_pause", "keyword_bid", "audience_expansion"];

export function Decisions() {
  const filters = useFilters(["decision_type", "validation_status", "action_taken"] as const);
  const query = sent(filters.values) as QueryOf<"listDecisions">;
  const list = useLiveList<Decision>(
    (q) => api.listDecisions({ ...query, ...q }),
    filters.key,
    { version: (d) => `${d.validation_status}|${d.outcome_at ?? ""}|${d.validated_at ?? ""}` },
  );

  return (
    <>
      <PageHeader
        title="Decisions"
        description="What the decision engine decided, why, how sure it was, what it predicted, and — once the horizon has passed — what actually happened."
      >
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <Card>
        <div class="filters" role="search" aria-label="Filter decisions">
          <SelectField label="Type" value={filters.values.decision_type} allLabel="All" options={TYPES.map((t) => ({ value: t, label: label(t) }))} onChange={(v) => filters.set("decision_type", v)} />
          <SelectField label="Validation" value={filters.values.validation_status} allLabel="All" options={["pending", "validated", "incorrect"].map((t) => ({ value: t, label: label(t) }))} onChange={(v) => filters.set("validation_status", v)} />
          <SelectField
            label="Action"
            value={filters.values.action_taken}
            allLabel="All"
            options={["raise_budget", "decrease_budget", "pause_campaign", "lower_bid", "expand_audience"].map((t) => ({ value: t, label: label(t) }))}
            onChange={(v) => filters.set("action_taken", v)}
          />
        </div>
        <ErrorNote error={list.error} prefix="Could not load decisions." />
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        {list.loading ? (
          <Loading what="Loading decisions…" />
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Decisions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Campaign</th>
                  <th scope="col" class="wide">Decision and rationale</th>
                  <th scope="col" class="num">Confidence</th>
                  <th scope="col">Predicted impact</th>
                  <th scope="col">Actual outcome</th>
                  <th scope="col">Validation</th>
                </tr>
              </thead>
              <tbody>
                {list.items.length === 0 ? (
                  <tr>
                    <td colSpan={7} class="empty">
                      No decisions match these filters.
                    </td>
                  </tr>
                ) : (
                  list.items.map((d) => {
                    const outcome = outcomeText(d);
                    return (
                      <tr key={d.id} class={list.arrived.has(d.id) ? "arrived" : undefined}>
                        <td class="nowrap">
                          <Link href={`/decisions/${d.id}`} aria-label={`Decision of ${when(d.created_at)}: details`}>
                            {when(d.created_at)}
                          </Link>
                        </td>
                        <td>{campaignName(decisionCampaign(d))}</td>
                        <td>
                          <div class="title">
                            {label(d.action_taken ?? d.decision_type)}
                            {outcome.status ? (
                              <>
                                {" "}
                                <Status value={outcome.status} />
                              </>
                            ) : null}
                          </div>
                          <div class="desc clamp">{d.decision_rationale ?? ""}</div>
                        </td>
                        <td class="num">{d.confidence_score === null ? "—" : `${num(d.confidence_score, 0)}%`}</td>
                        <td class="small">{predictedText(d)}</td>
                        <td class="small">
                          {actualText(d)}
                          {at(d.actual_impact, "in_interval") === true ? <div class="muted">inside the interval</div> : null}
                          {at(d.actual_impact, "in_interval") === false ? <div class="muted">outside the interval</div> : null}
                        </td>
                        <td>
                          <Status value={d.validation_status} />
                        </td>
                      </tr>
                    );
                  })
                )}
              </tbody>
            </table>
          </div>
        )}
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="decisions" />
      </Card>
    </>
  );
}
