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
  const [later, setLater] = useState<Optimization[]>([]);
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
    api
      .listOptimizations({
        target_entity_id: campaignId,
        ...(setting ? { setting } : {}),
        status: "applied",
        limit: 20,
      })
      .then((page) =>
        setLater(
          page.items.filter(
            (o) =>
              o.id !== optimization.id &&
              o.created_at > optimization.created_at &&
              o.rollback_of !== optimization.id,
          ),
        ),
      )
      .catch(() => setLater([]));
  }, [campaignId, setting, optimization.id, optimization.created_at]);

  const rollback = async (force: boolean) => {
    setBusy(true);
    setError(null);
    try {
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
      {later.length > 0 && !conflict ? (
        <Notice tone="warn">
          A later change set this {settingName(setting)} to{" "}
          {settingValue(setting, later[0]?.value_after)} on {when(later[0]?.applied_at ?? later[0]?.created_at)}.
          Rolling this one back would overwrite it, so adpilot will ask before doing so.
        </Notice>
      ) : null}
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
