import { Fragment } from "preact";
import { useState } from "preact/hooks";

import { api, describeError, type Alert, type QueryOf } from "../api";
import { Severity, Status } from "../components/status";
import {
  Card,
  ErrorNote,
  ListFoot,
  LiveStamp,
  Loading,
  NewRows,
  Notice,
  PageHeader,
  SelectField,
} from "../components/ui";
import { campaignName, campaignOptions } from "../lib/campaigns";
import { useFilters, sent } from "../lib/filters";
import { label, num, platformHour, when } from "../lib/format";
import { at, numAt, records, strAt, type JsonRecord } from "../lib/json";
import { recountAttention } from "../lib/health";
import { busyReading, useLiveList } from "../lib/live";
import { can } from "../lib/session";

type Action = "acknowledge" | "resolve" | "dismiss";

const ALLOWED: Record<Action, readonly string[]> = {
  acknowledge: ["active"],
  resolve: ["active", "acknowledged"],
  dismiss: ["active", "acknowledged"],
};

const ACTION_LABEL: Record<Action, string> = {
  acknowledge: "Acknowledge",
  resolve: "Resolve",
  dismiss: "Dismiss",
};

const DONE_LABEL: Record<Action, string> = {
  acknowledge: "acknowledged",
  resolve: "resolved",
  dismiss: "dismissed",
};

function allowed(alert: Alert, action: Action): boolean {
  return ALLOWED[action].includes(alert.status ?? "");
}

function call(action: Action, id: string): Promise<Alert> {
  if (action === "acknowledge") return api.acknowledgeAlert(id);
  if (action === "resolve") return api.resolveAlert(id);
  return api.dismissAlert(id);
}

const KINDS = [
  "tracking_outage",
  "conversions_down",
  "conversions_up",
  "cvr_down",
  "cvr_up",
  "ctr_down",
  "ctr_up",
  "cpc_up",
  "cpc_down",
  "spend_up",
  "spend_down",
  "roas_down",
  "roas_up",
  "budget_pacing",
  "budget_exceeded",
];

function Evidence({ alert }: { alert: Alert }) {
  const e = alert.evidence;
  const observed = numAt(e, "observed");
  const baseline = numAt(e, "baseline");
  const z = numAt(e, "z_score");
  const history = numAt(e, "history_hours");
  const actions = records(alert.recommended_actions);
  if (observed === null && actions.length === 0) return null;
  return (
    <details style={{ marginTop: "0.3rem" }}>
      <summary>Evidence and what to do</summary>
      <dl class="facts small" style={{ marginTop: "0.4rem" }}>
        {observed !== null ? (
          <>
            <dt>Observed</dt>
            <dd>
              {num(observed)} {strAt(e, "metric") ?? ""} over {numAt(e, "window_hours") ?? "?"} h
            </dd>
          </>
        ) : null}
        {baseline !== null ? (
          <>
            <dt>Baseline</dt>
            <dd>
              {num(baseline)} ({label(strAt(e, "baseline_kind"))}, {numAt(e, "baseline_days") ?? "?"} days)
            </dd>
          </>
        ) : null}
        {z !== null ? (
          <>
            <dt>Robust z-score</dt>
            <dd>
              {num(z, 1)} (threshold {num(numAt(e, "threshold"), 2)})
            </dd>
          </>
        ) : null}
        {history !== null ? (
          <>
            <dt>History behind it</dt>
            <dd>{num(history, 0)} hours</dd>
          </>
        ) : null}
        {actions.map((a, i) => (
          <Fragment key={i}>
            <dt>{i === 0 ? "Suggested" : ""}</dt>
            <dd>
              {label(strAt(a, "action"))}: {strAt(a, "reason") ?? ""}
            </dd>
          </Fragment>
        ))}
      </dl>
    </details>
  );
}

const SOURCE_LABEL: Record<string, string> = {
  own_change: "Our change",
  seasonality: "Seasonality",
  competitor: "Competitor",
};

function describeCandidate(c: JsonRecord): string {
  const source = strAt(c, "source");
  if (source === "own_change") {
    const hours = numAt(c, "hours_before");
    return `${label(strAt(c, "setting"))} changed${hours !== null ? ` ${num(hours, 1)} h before` : ""}`;
  }
  if (source === "seasonality") {
    return `same move in ${numAt(c, "weeks_moved") ?? "?"} of ${numAt(c, "weeks_checked") ?? "?"} prior weeks at this weekday and hour`;
  }
  const size = numAt(c, "size");
  return [
    `${strAt(c, "competitor") ?? "?"} ${strAt(c, "kind") ?? ""} from ${strAt(c, "started_on") ?? "?"}`,
    size !== null ? `impression share ${size >= 0 ? "+" : ""}${num(size, 1)} points` : null,
    `score ${num(numAt(c, "score"), 2)}`,
    `confidence ${num(numAt(c, "confidence"), 2)}`,
  ]
    .filter((part): part is string => part !== null)
    .join(", ");
}

/** What may explain the incident, in the order alerts ranks it: our changes, seasonality,
 * then competitor events (co-occurring, not shown to be causal). */
function Explanation({ alert }: { alert: Alert }) {
  const candidates = records(at(alert.evidence, "explanation", "candidates"));
  if (candidates.length === 0) return null;
  return (
    <details style={{ marginTop: "0.3rem" }} class="explanation">
      <summary>Possible explanations ({candidates.length})</summary>
      <ol class="small" style={{ marginTop: "0.4rem" }}>
        {candidates.map((c, i) => (
          <li key={i}>
            <strong>{SOURCE_LABEL[strAt(c, "source") ?? ""] ?? label(strAt(c, "source"))}</strong>
            {": "}
            {describeCandidate(c)} <span class="muted">({strAt(c, "label") ?? ""})</span>
          </li>
        ))}
      </ol>
    </details>
  );
}

export function Alerts() {
  const filters = useFilters(
    ["status", "severity", "alert_type", "alert_key", "affected_entity_id"] as const,
    { status: "active" },
  );
  const query = sent(filters.values) as QueryOf<"listAlerts">;
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  // While rows are ticked, new incidents wait behind "N new — show".
  const list = useLiveList<Alert>((q) => api.listAlerts({ ...query, ...q }), filters.key, {
    holdNew: () => selected.size > 0 || busyReading(),
  });
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: "good" | "bad" | "warn"; text: string } | null>(null);
  const operator = can("operator");

  const visibleIds = list.items.map((a) => a.id);
  const selectedShown = visibleIds.filter((id) => selected.has(id));
  const allChecked = visibleIds.length > 0 && selectedShown.length === visibleIds.length;

  const toggle = (id: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(id);
    else next.delete(id);
    setSelected(next);
  };

  const act = async (action: Action, alerts: Alert[]) => {
    const targets = alerts.filter((a) => allowed(a, action));
    const skipped = alerts.length - targets.length;
    setBusy(action);
    setMessage(null);
    let done = 0;
    const failures: string[] = [];
    for (const alert of targets) {
      try {
        list.replace(await call(action, alert.id));
        done += 1;
      } catch (e) {
        failures.push(`${alert.title}: ${describeError(e)}`);
      }
    }
    setBusy(null);
    setSelected(new Set());
    const parts = [`${done} ${done === 1 ? "incident" : "incidents"} ${DONE_LABEL[action]}`];
    if (skipped > 0) parts.push(`${skipped} skipped (their status does not allow it)`);
    if (failures.length > 0) parts.push(`${failures.length} failed: ${failures.join("; ")}`);
    setMessage({ tone: failures.length > 0 ? "bad" : skipped > 0 ? "warn" : "good", text: `${parts.join("; ")}.` });
    list.refresh();
    recountAttention();
  };

  const selectedAlerts = list.items.filter((a) => selected.has(a.id));
  const columns = operator ? 7 : 5;

  return (
    <>
      <PageHeader
        title="Alerts"
        description="Incidents, newest first. One cause on one campaign is one incident; the other signals it moved are listed under it as symptoms."
      >
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <Card>
        <div class="filters" role="search" aria-label="Filter incidents">
          <SelectField
            label="Status"
            value={filters.values.status}
            options={[
              { value: "active", label: "Active" },
              { value: "acknowledged", label: "Acknowledged" },
              { value: "resolved", label: "Resolved" },
              { value: "dismissed", label: "Dismissed" },
              { value: "all", label: "All" },
            ]}
            onChange={(v) => filters.set("status", v)}
          />
          <SelectField label="Severity" value={filters.values.severity} allLabel="All" options={["critical", "high", "medium", "low"].map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("severity", v)} />
          <SelectField label="Type" value={filters.values.alert_type} allLabel="All" options={["performance_anomaly", "budget_threshold", "opportunity", "risk"].map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("alert_type", v)} />
          <SelectField label="Kind" value={filters.values.alert_key} allLabel="All" options={KINDS.map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("alert_key", v)} />
          <SelectField label="Campaign" value={filters.values.affected_entity_id} allLabel="All campaigns" options={campaignOptions()} onChange={(v) => filters.set("affected_entity_id", v)} />
        </div>

        {operator ? (
          <div class="bulk-bar" role="group" aria-label="Bulk actions">
            <span>{selectedAlerts.length} selected</span>
            {(["acknowledge", "resolve", "dismiss"] as const).map((action) => (
              <button
                key={action}
                type="button"
                class="small"
                disabled={busy !== null || !selectedAlerts.some((a) => allowed(a, action))}
                onClick={() => void act(action, selectedAlerts)}
              >
                {ACTION_LABEL[action]} selected
              </button>
            ))}
          </div>
        ) : null}
        {message ? (
          <Notice tone={message.tone} role="status">
            {message.text}
          </Notice>
        ) : null}
        <ErrorNote error={list.error} prefix="Could not load incidents." />
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        {list.loading ? (
          <Loading what="Loading incidents…" />
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Incidents with their symptoms, newest first</caption>
              <thead>
                <tr>
                  {operator ? (
                    <th scope="col" class="check-cell">
                      <input
                        type="checkbox"
                        aria-label="Select all incidents shown"
                        checked={allChecked}
                        disabled={visibleIds.length === 0}
                        onChange={(e) => setSelected((e.currentTarget as HTMLInputElement).checked ? new Set(visibleIds) : new Set())}
                      />
                    </th>
                  ) : null}
                  <th scope="col">Severity</th>
                  <th scope="col" class="wide">Incident</th>
                  <th scope="col">Campaign</th>
                  <th scope="col">Status</th>
                  <th scope="col">Seen (platform time)</th>
                  {operator ? <th scope="col"><span class="visually-hidden">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody>
                {list.items.length === 0 ? (
                  <tr>
                    <td colSpan={columns} class="empty">
                      {filters.values.status === "active" ? "No active incidents. All quiet." : "No incidents match these filters."}
                    </td>
                  </tr>
                ) : (
                  list.items.map((alert) => {
                    const symptoms = records(alert.evidence && typeof alert.evidence === "object" ? (alert.evidence as { symptoms?: unknown }).symptoms : null);
                    const primary = strAt(alert.evidence, "primary") ?? alert.alert_key;
                    return (
                      <Fragment key={alert.id}>
                        <tr class={selected.has(alert.id) ? "selected" : list.arrived.has(alert.id) ? "arrived" : undefined}>
                          {operator ? (
                            <td class="check-cell">
                              <input
                                type="checkbox"
                                aria-label={`Select incident: ${alert.title}`}
                                checked={selected.has(alert.id)}
                                onChange={(e) => toggle(alert.id, (e.currentTarget as HTMLInputElement).checked)}
                              />
                            </td>
                          ) : null}
                          <td>
                            <Severity value={alert.severity} />
                          </td>
                          <td>
                            <div class="title">{alert.title}</div>
                            <div class="desc">
                              {primary ? <strong>{label(primary)}</strong> : null}
                              {[
                                primary ? "" : null,
                                symptoms.length > 0 ? `${symptoms.length} ${symptoms.length === 1 ? "symptom" : "symptoms"}` : null,
                                alert.description,
                              ]
                                .filter((part): part is string => part !== null && part !== "")
                                .map((part) => (primary ? ` · ${part}` : part))
                                .join(primary ? "" : " · ")}
                            </div>
                            <Evidence alert={alert} />
                            <Explanation alert={alert} />
                          </td>
                          <td>{alert.affected_entity_type === "campaign" ? campaignName(alert.affected_entity_id) : label(alert.affected_entity_type)}</td>
                          <td>
                            <Status value={alert.status} />
                          </td>
                          <td class="small">
                            {alert.first_seen_hour ? (
                              <>
                                {platformHour(alert.first_seen_hour)}
                                {alert.last_seen_hour && alert.last_seen_hour !== alert.first_seen_hour ? (
                                  <div class="muted">to {platformHour(alert.last_seen_hour)}</div>
                                ) : null}
                                <div class="muted">
                                  {alert.occurrences} {alert.occurrences === 1 ? "hour" : "hours"} seen
                                </div>
                              </>
                            ) : (
                              <>
                                raised {when(alert.created_at)}
                                <div class="muted">by a person or a rule</div>
                              </>
                            )}
                          </td>
                          {operator ? (
                            <td class="actions-cell">
                              <div class="actions">
                                {(["acknowledge", "resolve", "dismiss"] as const).map((action) =>
                                  allowed(alert, action) ? (
                                    <button
                                      key={action}
                                      type="button"
                                      class="small"
                                      disabled={busy !== null}
                                      aria-describedby={undefined}
                                      onClick={() => void act(action, [alert])}
                                    >
                                      {ACTION_LABEL[action]}
                                    </button>
                                  ) : null,
                                )}
                              </div>
                            </td>
                          ) : null}
                        </tr>
                        {symptoms.map((s, i) => (
                          <tr key={`${alert.id}-s${i}`} class="sub-row">
                            {operator ? <td /> : null}
                            <td class="sub-indent">
                              <Severity value={strAt(s, "severity")} />
                            </td>
                            <td colSpan={operator ? 5 : 4}>
                              <span class="visually-hidden">Symptom of the incident above: </span>
                              <strong>{label(strAt(s, "kind"))}</strong>
                              {" — "}
                              {strAt(s, "description") ?? strAt(s, "title") ?? ""}
                              {strAt(s, "hour") ? <span class="muted"> ({platformHour(strAt(s, "hour"))})</span> : null}
                            </td>
                          </tr>
                        ))}
                      </Fragment>
                    );
                  })
                )}
              </tbody>
            </table>
          </div>
        )}
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="incidents" />
      </Card>
    </>
  );
}
