// The upload of an Auction Insights report (operators): the file as the platform
// downloaded it, the campaign it is of unless it has a Campaign column; a bad file is
// refused whole, and every bad line is listed with why.
import { useEffect, useId, useState } from "preact/hooks";

import { api, ApiError, describeError, type ImportSummary } from "../api";
import { campaignName, campaignOptions } from "../lib/campaigns";
import { day } from "../lib/format";
import { records } from "../lib/json";
import { Card, Notice } from "./ui";

interface BadLine {
  line: number | null;
  reason: string;
}

/** Sends the file as the form's `file` field; the API answers what it stored. */
async function upload(file: File, campaign: string): Promise<ImportSummary> {
  const form = new FormData();
  form.append("file", file, file.name);
  const outcome = await api.raw.POST("/api/ai/competitive-intelligence/imports", {
    params: { query: campaign ? { campaign_id: campaign } : {} },
    // The operation declares no JSON body: the form goes as it is, with its own boundary.
    body: form as never,
    bodySerializer: (body: unknown) => body as FormData,
  });
  if (!outcome.response.ok || outcome.error !== undefined) {
    throw ApiError.fromResponse(outcome.response, outcome.error);
  }
  return outcome.data as ImportSummary;
}

function badLines(error: unknown): BadLine[] {
  if (!(error instanceof ApiError) || error.code !== "invalid_report") return [];
  const details = error.details as { rows?: unknown } | null;
  return records(details?.rows).map((r) => ({
    line: typeof r["line"] === "number" ? r["line"] : null,
    reason: String(r["reason"] ?? ""),
  }));
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function Summary({ done }: { done: ImportSummary }) {
  const range = done.day_from ? (done.day_from === done.day_to ? day(done.day_from) : `${day(done.day_from)} to ${day(done.day_to)}`) : "the report's whole range";
  return (
    <Notice tone="good" role="status">
      <strong>Imported {plural(done.rows, "row", "rows")}:</strong> {done.inserted} new, {done.updated} changed, {done.unchanged} already as the file says.{" "}
      {plural(done.days, "day", "days")} ({range}), {plural(done.competitors.length, "competitor", "competitors")}, for{" "}
      {done.campaign_ids.map((id) => campaignName(id)).join(", ") || "no campaign"}. {plural(done.events, "competitor event", "competitor events")} found.
    </Notice>
  );
}

export function ImportReport({ campaign, onImported }: { campaign: string; onImported: () => void }) {
  const id = useId();
  const [file, setFile] = useState<File | null>(null);
  const [target, setTarget] = useState(campaign);
  // The campaign chosen on the page is the one a report is most likely of.
  useEffect(() => setTarget(campaign), [campaign]);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<ImportSummary | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setDone(null);
    setError(null);
    if (!file) {
      setMissing(true);
      document.getElementById(`${id}-file`)?.focus();
      return;
    }
    setMissing(false);
    setBusy(true);
    try {
      setDone(await upload(file, target));
      onImported();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const lines = badLines(error);
  // Lines refused beyond those the API lists.
  const more = error instanceof ApiError && typeof (error.details as { more?: unknown } | null)?.more === "number" ? ((error.details as { more: number }).more) : 0;
  return (
    <Card
      title="Import Auction Insights"
      labelledBy={`${id}-title`}
      description="A report as Google Ads or Microsoft Advertising download it (CSV, or the Excel tab-separated text). Importing a report again updates its rows. A file with bad rows is refused whole, and nothing is stored."
    >
      <form onSubmit={(e) => void submit(e)} noValidate aria-labelledby={`${id}-title`}>
        <div class="form-grid">
          <div class="field">
            <label for={`${id}-file`}>Report file</label>
            <input
              id={`${id}-file`}
              type="file"
              accept=".csv,.tsv,.txt,text/csv,text/plain,text/tab-separated-values"
              aria-invalid={missing || undefined}
              aria-describedby={missing ? `${id}-file-error` : `${id}-file-hint`}
              onChange={(e) => {
                setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null);
                setMissing(false);
              }}
            />
            {missing ? (
              <span class="field-error" id={`${id}-file-error`}>
                Choose a report file.
              </span>
            ) : (
              <span class="hint" id={`${id}-file-hint`}>
                Up to 2 MiB.
              </span>
            )}
          </div>
          <div class="field">
            <label for={`${id}-campaign`}>Campaign</label>
            <select id={`${id}-campaign`} value={target} aria-describedby={`${id}-campaign-hint`} onChange={(e) => setTarget((e.currentTarget as HTMLSelectElement).value)}>
              <option value="">From the file's Campaign column</option>
              {campaignOptions().map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
            <span class="hint" id={`${id}-campaign-hint`}>
              Needed unless the report is segmented by campaign.
            </span>
          </div>
        </div>
        <div class="row" style={{ marginTop: "0.8rem" }}>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Importing…" : "Import report"}
          </button>
        </div>
      </form>
      <div aria-live="polite" style={{ marginTop: "0.8rem" }}>
        {done ? <Summary done={done} /> : null}
        {error ? (
          <div class="notice notice-bad" role="alert">
            <strong>The report was not imported.</strong>{" "}
            {lines.length > 0
              ? `Nothing was stored: ${plural(lines.length + more, "line", "lines")} could not be read${more > 0 ? ` (the first ${lines.length} shown)` : ""}.`
              : describeError(error)}
            {lines.length > 0 ? (
              <ul class="bad-lines">
                {lines.map((l, i) => (
                  <li key={i}>
                    {l.line !== null ? <strong>Line {l.line}: </strong> : null}
                    {l.reason}
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
        ) : null}
      </div>
    </Card>
  );
}
