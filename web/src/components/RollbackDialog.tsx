// Undoing an applied change: what it will set, what holds now, and a confirmation. A
// conflict (a later change, or an edit made on the platform) is said in words, with the
// choice to overwrite it.
import { useEffect, useState } from "preact/hooks";

import { ApiError, api, describeError, type Campaign, type Optimization } from "../api";
import { campaignName } from "../lib/campaigns";
import { label, money, num, when } from "../lib/format";
import { record, strAt } from "../lib/json";
import { Dialog, Notice } from "./ui";

export function settingValue(setting: string | null | undefined, value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return label(value);
  if (typeof value !== "number") return JSON.stringify(value);
  if (setting === "budget") return money(value);
  if (setting === "bid" || setting === "audience") return `${num(value, 3)}×`;
  return num(value);
}

function settingNow(campaign: Campaign | null, setting: string | null): unknown {
  if (!campaign) return null;
  switch (setting) {
    case "budget":
      return campaign.daily_budget;
    case "bid":
      return campaign.bid_multiplier;
    case "audience":
      return campaign.audience_factor;
    case "status":
      return campaign.status;
    default:
      return null;
  }
}

function settingName(setting: string | null): string {
  switch (setting) {
    case "budget":
      return "daily budget";
    case "bid":
      return "bid multiplier";
    case "audience":
      return "audience expansion";
    case "status":
      return "status";
    default:
      return setting ?? "setting";
  }
}

/** A rollback refused with 409, in words a marketer would use. */
export function conflictInWords(error: ApiError, optimization: Optimization): string {
  const what = settingName(optimization.setting);
  const kind = strAt(error.details, "conflict");
  const later = record(error.details)?.["later_change_ids"];
  const laterCount = Array.isArray(later) ? later.length : 0;
  if (error.code === "rollback_conflict") {
    if (kind === "changed_elsewhere") {
      return `The ${what} was changed on the platform after this change, outside adpilot. Rolling back would overwrite that edit.`;
    }
    if (kind === "later_change") {
      return `The ${what} was changed again after this change (${laterCount === 1 ? "by one later change" : `by ${laterCount} later changes`}). Roll back the later change first, or roll back anyway to overwrite it.`;
    }
    if (kind === "already_rolled_back") {
      return "This change was already rolled back.";
    }
    return error.message;
  }
  if (error.code === "in_flight") {
    return `Another change to this ${what} is being carried out right now. Try again when it has finished.`;
  }
  if (error.code === "not_applied") return "Only an applied change can be rolled back.";
  return error.message;
}

function appliedAt(o: Optimization): string {
  return o.applied_at ?? o.created_at;
}

interface Precheck {
  kind: "already_rolled_back" | "later_change";
  /** The later changes still in force, oldest first. */
  later: Optimization[];
}

/**
 * Whether undoing `target` would overwrite something, from the change log as it stands:
 * the same replay the optimizer makes (a rollback of the change on top cancels it), so a
 * person hears of a conflict before anything is sent. The optimizer checks again, and
 * also compares with what the platform holds now.
 */
async function precheck(target: Optimization): Promise<Precheck | null> {
  const fresh = await api.getOptimization(target.id);
  if (fresh.rolled_back_by) return { kind: "already_rolled_back", later: [] };
  if (!target.target_entity_id || !target.setting) return null;
  const page = await api.listOptimizations({
    target_entity_id: target.target_entity_id,
    setting: target.setting,
    status: "applied",
    limit: 200,
  });
  const after = page.items
    .filter((c) => c.id !== target.id && appliedAt(c) >= appliedAt(target))
    .sort((a, b) => appliedAt(a).localeCompare(appliedAt(b)));
  const stack: Optimization[] = [fresh];
  for (const change of after) {
    if (change.rollback_of !== null && stack.at(-1)?.id === change.rollback_of) stack.pop();
    else stack.push(change);
  }
  if (!stack.some((c) => c.id === target.id)) return { kind: "already_rolled_back", later: [] };
  const later = stack.filter((c) => c.id !== target.id);
  return later.length > 0 ? { kind: "later_change", later } : null;
}

function precheckInWords(check: Precheck, optimization: Optimization): string {
  const what = settingName(optimization.setting);
  if (check.kind === "already_rolled_back") return "This change was already rolled back.";
  const latest = check.later.at(-1);
  const count = check.later.length === 1 ? "by one later change" : `by ${check.later.length} later changes`;
  return `The ${what} was changed again after this change (${count}; now ${settingValue(optimization.setting, latest?.value_after)} since ${when(latest ? appliedAt(latest) : null)}). Roll back the later change first, or roll back anyway to overwrite it.`;
}

export function RollbackDialog({
  optimization,
  onClose,
  onDone,
}: {
  optimization: Optimization;
  onClose: () => void;
  onDone: (undo: Optimization) => void;
}) {
  const [campaign, setCampaign] = useState<Campaign | null>(null);
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState<{ text: string; forcible: boolean } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const setting = optimization.setting;
  const campaignId = optimization.target_entity_id;

  useEffect(() => {
    if (!campaignId) return;
    api
      .getCampaign(campaignId)
      .then(setCampaign)
      .catch(() => setCampaign(null));
    precheck(optimization)
      .then((check) => {
        if (check) setConflict({ text: precheckInWords(check, optimization), forcible: check.kind === "later_change" });
      })
      .catch(() => undefined);
  }, [campaignId, optimization]);

  const rollback = async (force: boolean) => {
    setBusy(true);
    setError(null);
    try {
      if (!force) {
        const check = await precheck(optimization);
        if (check) {
          setConflict({ text: precheckInWords(check, optimization), forcible: check.kind === "later_change" });
          return;
        }
      }
      const undo = await api.rollbackOptimization(optimization.id, { force });
      onDone(undo);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        const kind = strAt(e.details, "conflict");
        setConflict({
          text: conflictInWords(e, optimization),
          forcible: e.code === "rollback_conflict" && kind !== "already_rolled_back",
        });
      } else if (e instanceof ApiError && e.status === 502) {
        setError(`The ad platform did not take the change, so nothing was changed: ${e.message}`);
      } else {
        setError(describeError(e));
      }
    } finally {
      setBusy(false);
    }
  };

  const now = settingNow(campaign, setting);
  return (
    <Dialog
      title="Roll back this change?"
      onClose={onClose}
      actions={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          {conflict?.forcible ? (
            <button type="button" class="danger" disabled={busy} onClick={() => void rollback(true)}>
              {busy ? "Rolling back…" : "Roll back anyway"}
            </button>
          ) : (
            <button
              type="button"
              class="primary"
              disabled={busy || conflict !== null}
              onClick={() => void rollback(false)}
            >
              {busy ? "Rolling back…" : "Roll back"}
            </button>
          )}
        </>
      }
    >
      <p>
        This sets the {settingName(setting)} of <strong>{campaignName(campaignId)}</strong> back
        to what it was before the change of {when(optimization.applied_at ?? optimization.created_at)}.
      </p>
      <div class="change-preview" aria-label="What will change">
        <div>
          <div class="caption">Now on the platform</div>
          <div class="value">
            {campaign ? settingValue(setting, now) : settingValue(setting, optimization.value_after)}
          </div>
          <div class="caption">{campaign ? `as reported ${when(campaign.synced_at)}` : "as this change set it"}</div>
        </div>
        <div aria-hidden="true" style={{ fontSize: "1.4rem" }}>
          →
        </div>
        <div>
          <div class="caption">After the rollback</div>
          <div class="value">{settingValue(setting, optimization.value_before)}</div>
          <div class="caption">the value before this change</div>
        </div>
      </div>
      {conflict ? (
        <Notice tone="warn" role="alert">
          <strong>Not rolled back. </strong>
          {conflict.text}
        </Notice>
      ) : null}
      {error ? (
        <Notice tone="bad" role="alert">
          {error}
        </Notice>
      ) : null}
      <p class="muted small">
        The rollback is itself a change in the log, and can be undone in turn.
      </p>
    </Dialog>
  );
}
