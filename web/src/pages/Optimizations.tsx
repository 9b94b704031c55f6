import { useState } from "preact/hooks";

import { api, type Optimization, type QueryOf } from "../api";
import { RollbackDialog, settingValue } from "../components/RollbackDialog";
import { Status } from "../components/status";
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
import { label, platformHour, shortId, signedPct, when } from "../lib/format";
import { numAt, records, strAt } from "../lib/json";
import { useLiveList } from "../lib/live";
import { Link } from "../lib/router";
import { can } from "../lib/session";

export function changeText(o: Optimization): string {
  const before = o.value_before;
  const after = o.value_after;
  const setting = o.setting;
  let text = `${label(setting ?? o.optimization_type)}: ${settingValue(setting, before)} → ${settingValue(setting, after)}`;
  if (typeof before === "number" && typeof after === "number" && before !== 0) {
    text += ` (${signedPct(after / before - 1)})`;
  }
  return text;
}

export function CauseLink({ o }: { o: Optimization }) {
  switch (o.cause_type) {
    case "decision":
      return o.decision_id ? <Link href={`/decisions/${o.decision_id}`}>Decision {shortId(o.decision_id)}</Link> : <>Decision</>;
    case "recommendation":
      return <Link href="/recommendations?status=all">Approved recommendation</Link>;
    case "rule":
      return <Link href="/rules">Automation rule</Link>;
    case "reallocation":
      return <Link href="/budgets">Budget pool reallocation</Link>;
    case "rollback":
      return <>Rollback of {shortId(o.rollback_of)}</>;
    case "experiment":
      return <Link href="/experiments">Experiment winner</Link>;
    default:
      return <>{label(o.cause_type)}</>;
  }
}

function clampText(o: Optimization): string | null {
  const clamps = records(o.clamps);
  if (clamps.length === 0) return null;
  return clamps
    .map((c) => {
      const bound = label(strAt(c, "bound") ?? "limit");
      const limit = numAt(c, "limit");
      return limit === null ? bound : `${bound} held it at ${settingValue(o.setting, limit)}`;
    })
    .join("; ");
}

export function canRollBack(o: Optimization): boolean {
  return o.status === "applied" && o.rolled_back_by === null && o.setting !== null;
}

const STATUSES = ["applied", "pending", "unknown", "failed"];
const SETTINGS = ["budget", "bid", "status", "audience", "creative"];
const CAUSES = ["decision", "rule", "recommendation", "rollback", "experiment", "reallocation"];

export function Optimizations() {
  const filters = useFilters(["status", "setting", "cause_type", "target_entity_id"] as const);
  const query = sent(filters.values) as QueryOf<"listOptimizations">;
  const list = useLiveList<Optimization>((q) => api.listOptimizations({ ...query, ...q }), filters.key);
  const [rolling, setRolling] = useState<Optimization | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const operator = can("operator");

  return (
    <>
      <PageHeader
        title="Optimizations"
        description="Every change adpilot made on the ad platform, newest first: what changed, why, and what held it back. Any applied change can be rolled back."
      >
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <Card>
        <div class="filters" role="search" aria-label="Filter changes">
          <SelectField label="Status" value={filters.values.status} allLabel="All" options={STATUSES.map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("status", v)} />
          <SelectField label="Setting" value={filters.values.setting} allLabel="All" options={SETTINGS.map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("setting", v)} />
          <SelectField label="Cause" value={filters.values.cause_type} allLabel="All" options={CAUSES.map((s) => ({ value: s, label: label(s) }))} onChange={(v) => filters.set("cause_type", v)} />
          <SelectField label="Campaign" value={filters.values.target_entity_id} allLabel="All campaigns" options={campaignOptions()} onChange={(v) => filters.set("target_entity_id", v)} />
        </div>
        {done ? (
          <Notice tone="good" role="status">
            {done}
          </Notice>
        ) : null}
        <ErrorNote error={list.error} prefix="Could not load the change log." />
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        {list.loading ? (
          <Loading what="Loading changes…" />
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Changes made on the ad platform, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Campaign</th>
                  <th scope="col">Change</th>
                  <th scope="col">Why</th>
                  <th scope="col">Limits</th>
                  <th scope="col">Status</th>
                  {operator ? <th scope="col"><span class="visually-hidden">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody>
                {list.items.length === 0 ? (
                  <tr>
                    <td colSpan={operator ? 7 : 6} class="empty">
                      No changes match these filters.
                    </td>
                  </tr>
                ) : (
                  list.items.map((o) => (
                    <tr key={o.id} class={list.arrived.has(o.id) ? "arrived" : undefined}>
                      <td class="nowrap">
                        {when(o.applied_at ?? o.created_at)}
                        <div class="desc">from {platformHour(o.effective_from ?? o.planned_for)}</div>
                      </td>
                      <td>{campaignName(o.target_entity_id)}</td>
                      <td>
                        <div class="title">{changeText(o)}</div>
                        {o.failure_reason ? <div class="desc bad">{o.failure_reason}</div> : null}
                      </td>
                      <td>
                        <CauseLink o={o} />
                      </td>
                      <td class="small">{clampText(o) ?? <span class="muted">none</span>}</td>
                      <td>
                        <div class="row" style={{ gap: "0.3rem" }}>
                          <Status value={o.status} />
                          {o.rolled_back_by ? <Status value="dismissed" text="Rolled back" /> : null}
                        </div>
                      </td>
                      {operator ? (
                        <td>
                          {canRollBack(o) ? (
                            <button type="button" class="small" onClick={() => { setDone(null); setRolling(o); }}>
                              Rollback
                            </button>
                          ) : null}
                        </td>
                      ) : null}
                    </tr>
                  ))
                )}
              </tbody>
            </table>
          </div>
        )}
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="changes" />
      </Card>
      {rolling ? (
        <RollbackDialog
          optimization={rolling}
          onClose={() => setRolling(null)}
          onDone={(undo) => {
            setRolling(null);
            setDone(`Rolled back: ${changeText(undo)} on ${campaignName(undo.target_entity_id)}. The platform applies it from ${platformHour(undo.planned_for ?? undo.effective_from)}.`);
            list.refresh();
          }}
        />
      ) : null}
    </>
  );
}
