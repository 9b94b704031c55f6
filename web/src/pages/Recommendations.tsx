import { useState } from "preact/hooks";

import { api, describeError, type QueryOf, type Recommendation } from "../api";
import { settingValue } from "../components/RollbackDialog";
import { Status } from "../components/status";
import {
  Card,
  Dialog,
  ErrorNote,
  ListFoot,
  LiveStamp,
  Loading,
  NewRows,
  Notice,
  PageHeader,
  SelectField,
} from "../components/ui";
import { campaignName } from "../lib/campaigns";
import { useFilters, sent } from "../lib/filters";
import { fixed, label, num, pct, readableInstants, signedPct, when } from "../lib/format";
import { at, numAt, record, strAt } from "../lib/json";
import { recountAttention } from "../lib/health";
import { useLiveList } from "../lib/live";
import { can } from "../lib/session";

/** Expected relative change times confidence (0–1): how much a person's time here buys. */
export function score(r: Recommendation): number {
  const change = Math.abs(numAt(r.expected_impact, "expected_change") ?? 0);
  const confidence = (r.confidence_level ?? 0) / 10;
  return change * confidence * 100;
}

const CURRENT_KEY: Record<string, string> = {
  budget: "daily_budget",
  bid: "bid_multiplier",
  audience: "audience_factor",
  status: "status",
};

export function proposedChange(r: Recommendation): string {
  const changes = r.recommended_changes;
  const kind = strAt(changes, "kind");
  const to = at(changes, "to");
  if (!kind) return label(strAt(changes, "action")) || "—";
  if (kind === "status") return to === "paused" ? "Pause the campaign" : "Resume the campaign";
  const current = at(r.current_state, CURRENT_KEY[kind] ?? kind);
  const name = kind === "budget" ? "Daily budget" : kind === "bid" ? "Bid multiplier" : "Audience expansion";
  let text = `${name}: ${settingValue(kind, current)} → ${settingValue(kind, to)}`;
  if (typeof current === "number" && typeof to === "number" && current !== 0) {
    text += ` (${signedPct(to / current - 1)})`;
  }
  return text;
}

export function expectedText(r: Recommendation): string {
  const e = r.expected_impact;
  const change = numAt(e, "expected_change");
  if (change === null) return "—";
  const low = numAt(e, "interval", "low");
  const high = numAt(e, "interval", "high");
  const level = numAt(e, "interval", "level");
  let text = `${signedPct(change)} ${strAt(e, "metric") ?? ""}`;
  if (low !== null && high !== null) text += ` (${level ? pct(level, 0) : ""} interval ${signedPct(low)} to ${signedPct(high)})`;
  return text;
}

function heldBack(r: Recommendation): string | null {
  const detail =
    strAt(r.recommended_changes, "held_back", "detail") ?? strAt(r.recommended_changes, "limits", "detail");
  return detail === null ? null : readableInstants(detail);
}

const REASONS = [
  { value: "wrong", label: "The decision behind it is wrong" },
  { value: "timing", label: "Not now: timing or a planned change" },
  { value: "strategy", label: "Goes against the account's strategy" },
  { value: "other", label: "Other" },
];

function RejectDialog({
  recommendation,
  onClose,
  onDone,
}: {
  recommendation: Recommendation;
  onClose: () => void;
  onDone: (row: Recommendation, note: string) => void;
}) {
  const [reason, setReason] = useState("");
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const decision = recommendation.source_decision_id;

  const submit = async () => {
    if (!reason) {
      setError("Choose a reason.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const row = await api.rejectRecommendation(recommendation.id);
      let sent = "";
      if (reason === "wrong" && decision) {
        // A person's correction counts in the decision engine's scores and confidence.
        await api.createLearningFeedback({
          decision_id: decision,
          feedback_type: "user_correction",
          feedback_value: {
            correct: false,
            reason: note || REASONS[0]!.label,
            recommendation_id: recommendation.id,
          },
        });
        sent = " The decision engine was told the decision was wrong.";
      }
      onDone(row, `Rejected (${REASONS.find((r) => r.value === reason)?.label.toLowerCase()}).${sent}`);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      title="Reject this recommendation?"
      onClose={onClose}
      actions={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="button" class="danger" disabled={busy} onClick={() => void submit()}>
            {busy ? "Rejecting…" : "Reject"}
          </button>
        </>
      }
    >
      <p>
        <strong>{proposedChange(recommendation)}</strong> on {campaignName(recommendation.target_entity_id)}.
        Nothing changes on the platform.
      </p>
      <div class="stack">
        <div class="field">
          <label for="reject-reason">Reason</label>
          <select id="reject-reason" value={reason} onChange={(e) => setReason((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">Choose a reason…</option>
            {REASONS.map((r) => (
              <option key={r.value} value={r.value} disabled={r.value === "wrong" && !decision}>
                {r.label}
              </option>
            ))}
          </select>
          <span class="hint">
            {decision
              ? "“The decision behind it is wrong” is sent to the decision engine as a correction, and counts in its scores and future confidence."
              : "This recommendation was made by hand, not by a decision."}
          </span>
        </div>
        <div class="field">
          <label for="reject-note">Note (optional)</label>
          <input id="reject-note" type="text" value={note} onInput={(e) => setNote((e.currentTarget as HTMLInputElement).value)} />
        </div>
      </div>
      {error ? (
        <Notice tone="bad" role="alert">
          {error}
        </Notice>
      ) : null}
    </Dialog>
  );
}

export function Recommendations() {
  const filters = useFilters(["status", "recommendation_type", "implementation_complexity", "order"] as const, {
    status: "pending",
  });
  const { order, ...apiFilters } = filters.values;
  const query = sent(apiFilters) as QueryOf<"listRecommendations">;
  const byScore = order !== "newest";
  const list = useLiveList<Recommendation>(
    (q) => api.listRecommendations({ ...query, ...q }),
    filters.key.replace(/order=[^&]*/, ""),
    { limit: byScore ? 200 : 50 },
  );
  const [busy, setBusy] = useState<string | null>(null);
  const [rejecting, setRejecting] = useState<Recommendation | null>(null);
  const [message, setMessage] = useState<{ tone: "good" | "bad"; text: string } | null>(null);
  const operator = can("operator");

  const rows = byScore ? [...list.items].sort((a, b) => score(b) - score(a)) : list.items;

  const approve = async (r: Recommendation) => {
    setBusy(r.id);
    setMessage(null);
    try {
      const row = await api.approveRecommendation(r.id);
      list.replace(row);
      setMessage({
        tone: row.status === "failed" ? "bad" : "good",
        text:
          row.status === "failed"
            ? `Approved, but the platform did not take it: ${row.failure_reason ?? "no reason given"}.`
            : `Approved: ${proposedChange(r)} on ${campaignName(r.target_entity_id)}.`,
      });
    } catch (e) {
      setMessage({ tone: "bad", text: `Could not approve: ${describeError(e)}` });
    } finally {
      setBusy(null);
      list.refresh();
      recountAttention();
    }
  };

  return (
    <>
      <PageHeader
        title="Recommendations"
        description="Changes adpilot would make but left to a person — the tenant's autonomy or a safety limit held them back. Highest expected impact × confidence first."
      >
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <Card>
        <div class="filters" role="search" aria-label="Filter recommendations">
          <SelectField
            label="Status"
            value={filters.values.status}
            options={[...["pending", "approved", "implemented", "rejected", "failed"].map((s) => ({ value: s, label: label(s) })), { value: "all", label: "All" }]}
            onChange={(v) => filters.set("status", v)}
          />
          <SelectField
            label="Type"
            value={filters.values.recommendation_type}
            allLabel="All"
            options={["budget_optimization", "bid_strategy", "audience_targeting", "campaign_control", "creative_testing"].map((s) => ({ value: s, label: label(s) }))}
            onChange={(v) => filters.set("recommendation_type", v)}
          />
          <SelectField label="Complexity" value={filters.values.implementation_complexity} allLabel="All" options={["low", "medium", "high"].map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("implementation_complexity", v)} />
          <SelectField
            label="Order"
            value={byScore ? "" : "newest"}
            options={[
              { value: "", label: "Impact × confidence" },
              { value: "newest", label: "Newest first" },
            ]}
            onChange={(v) => filters.set("order", v)}
          />
        </div>
        {message ? (
          <Notice tone={message.tone} role="status">
            {message.text}
          </Notice>
        ) : null}
        <ErrorNote error={list.error} prefix="Could not load recommendations." />
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        {list.loading ? (
          <Loading what="Loading recommendations…" />
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">
                Recommendations, {byScore ? "highest impact × confidence first" : "newest first"}
              </caption>
              <thead>
                <tr>
                  <th scope="col" class="num" title="Expected change (%) × confidence">
                    Impact × conf.
                  </th>
                  <th scope="col">Campaign</th>
                  <th scope="col">Recommended change</th>
                  <th scope="col">Expected impact</th>
                  <th scope="col" class="num">Confidence</th>
                  <th scope="col">Why it waits</th>
                  <th scope="col">Status</th>
                  {operator ? <th scope="col"><span class="visually-hidden">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody>
                {rows.length === 0 ? (
                  <tr>
                    <td colSpan={operator ? 8 : 7} class="empty">
                      {filters.values.status === "pending" ? "Nothing waits for a person right now." : "No recommendations match these filters."}
                    </td>
                  </tr>
                ) : (
                  rows.map((r) => (
                    <tr key={r.id} class={list.arrived.has(r.id) ? "arrived" : undefined}>
                      <td class="num">{fixed(score(r), 1)}</td>
                      <td>
                        {campaignName(r.target_entity_id)}
                        <div class="desc">{when(r.created_at)}</div>
                      </td>
                      <td>
                        <div class="title">{proposedChange(r)}</div>
                        <div class="desc">{label(r.recommendation_type)} · {label(r.implementation_complexity)} complexity</div>
                      </td>
                      <td class="small">{expectedText(r)}</td>
                      <td class="num">{r.confidence_level === null ? "—" : `${num(r.confidence_level, 1)} / 10`}</td>
                      <td class="small">{heldBack(r) ?? <span class="muted">{record(r.recommended_changes) ? "the tenant's autonomy asks for a person" : "—"}</span>}</td>
                      <td>
                        <Status value={r.status} />
                        {r.failure_reason ? <div class="desc bad">{r.failure_reason}</div> : null}
                      </td>
                      {operator ? (
                        <td>
                          <div class="actions">
                            {r.status === "pending" ? (
                              <button type="button" class="small primary" disabled={busy !== null} onClick={() => void approve(r)}>
                                {busy === r.id ? "Approving…" : "Approve"}
                              </button>
                            ) : null}
                            {r.status === "pending" || r.status === "approved" ? (
                              <button type="button" class="small" disabled={busy !== null} onClick={() => { setMessage(null); setRejecting(r); }}>
                                Reject
                              </button>
                            ) : null}
                          </div>
                        </td>
                      ) : null}
                    </tr>
                  ))
                )}
              </tbody>
            </table>
          </div>
        )}
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="recommendations" />
      </Card>
      {rejecting ? (
        <RejectDialog
          recommendation={rejecting}
          onClose={() => setRejecting(null)}
          onDone={(row, text) => {
            setRejecting(null);
            list.replace(row);
            setMessage({ tone: "good", text });
            list.refresh();
            recountAttention();
          }}
        />
      ) : null}
    </>
  );
}
