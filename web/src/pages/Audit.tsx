import { useEffect, useState } from "preact/hooks";

import { api, type AuditEntry, type QueryOf } from "../api";
import { Badge, Card, ErrorNote, JsonDetails, ListFoot, LiveStamp, Loading, NewRows, Notice, PageHeader, SelectField } from "../components/ui";
import { useFilters, sent } from "../lib/filters";
import { label, shortId, when } from "../lib/format";
import { can } from "../lib/session";
import { useLiveList } from "../lib/live";

const TEXT_FILTERS = ["action", "resource_type", "event_type", "correlation_id", "since", "until"] as const;

function toInstant(local: string): string {
  if (!local) return "";
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

function toLocal(instant: string): string {
  if (!instant) return "";
  const date = new Date(instant);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function StatusCode({ code }: { code: number | null }) {
  if (code === null) return <span class="muted">event</span>;
  if (code < 300) return <Badge tone="good">{code}</Badge>;
  if (code < 500) return <Badge tone="warn">{code}</Badge>;
  return <Badge tone="bad">{code}</Badge>;
}

function AuditTrail() {
  const filters = useFilters(["actor_type", ...TEXT_FILTERS] as const);
  const query = sent(filters.values) as QueryOf<"listAuditTrail">;
  const list = useLiveList<AuditEntry>((q) => api.listAuditTrail({ ...query, ...q }), filters.key, {
    version: () => "",
  });
  const [draft, setDraft] = useState<Record<(typeof TEXT_FILTERS)[number], string>>(() => ({
    action: filters.values.action,
    resource_type: filters.values.resource_type,
    event_type: filters.values.event_type,
    correlation_id: filters.values.correlation_id,
    since: toLocal(filters.values.since),
    until: toLocal(filters.values.until),
  }));
  useEffect(() => {
    setDraft({
      action: filters.values.action,
      resource_type: filters.values.resource_type,
      event_type: filters.values.event_type,
      correlation_id: filters.values.correlation_id,
      since: toLocal(filters.values.since),
      until: toLocal(filters.values.until),
    });
    // The form follows the URL when the filters change from elsewhere (a correlation link).
  }, [filters.key]);

  const apply = (event: Event) => {
    event.preventDefault();
    for (const name of TEXT_FILTERS) {
      const value = name === "since" || name === "until" ? toInstant(draft[name]) : draft[name].trim();
      if (value !== filters.values[name]) filters.set(name, value);
    }
  };
  const textField = (name: (typeof TEXT_FILTERS)[number], text: string, type = "text", placeholder = "") => (
    <div class="field">
      <label for={`audit-${name}`}>{text}</label>
      <input
        id={`audit-${name}`}
        type={type}
        value={draft[name]}
        placeholder={placeholder}
        onInput={(e) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value })}
      />
    </div>
  );

  return (
    <>
      <PageHeader title="Audit" description="Every change a person made through the API and every event the services published, newest first. Follow a correlation id to see one chain of cause and effect.">
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
      </PageHeader>
      <Card>
        <form class="filters" role="search" aria-label="Filter the audit trail" onSubmit={apply}>
          <SelectField label="Actor" value={filters.values.actor_type} allLabel="All" options={[{ value: "user", label: "People (API calls)" }, { value: "service", label: "Services (events)" }]} onChange={(v) => filters.set("actor_type", v)} />
          {textField("action", "Action", "text", "decision.made")}
          {textField("resource_type", "Resource", "text", "alerts")}
          {textField("event_type", "Event type", "text", "optimization.applied")}
          {textField("correlation_id", "Correlation id")}
          {textField("since", "From", "datetime-local")}
          {textField("until", "Until", "datetime-local")}
          <button type="submit">Apply filters</button>
        </form>
        <ErrorNote error={list.error} prefix="Could not load the audit trail." />
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        {list.loading ? (
          <Loading what="Loading the audit trail…" />
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Audit trail, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Resource</th>
                  <th scope="col">Result</th>
                  <th scope="col">Correlation</th>
                </tr>
              </thead>
              <tbody>
                {list.items.length === 0 ? (
                  <tr>
                    <td colSpan={6} class="empty">
                      No entries match these filters.
                    </td>
                  </tr>
                ) : (
                  list.items.map((entry) => (
                    <tr key={entry.id}>
                      <td class="nowrap">{when(entry.created_at)}</td>
                      <td>
                        <div>{label(entry.actor_type)}</div>
                        <div class="desc mono">{entry.actor_id ?? "—"}</div>
                      </td>
                      <td>
                        <div class="mono" style={{ overflowWrap: "anywhere" }}>
                          {entry.action}
                        </div>
                        <JsonDetails summary="Before and after" value={entry.before_state || entry.after_state ? { before: entry.before_state, after: entry.after_state } : null} />
                      </td>
                      <td>
                        {label(entry.resource_type)}
                        {entry.resource_id ? <div class="desc mono">{shortId(entry.resource_id)}</div> : null}
                      </td>
                      <td>
                        <StatusCode code={entry.status_code} />
                      </td>
                      <td>
                        {entry.correlation_id ? (
                          <button type="button" class="subtle small mono" onClick={() => filters.set("correlation_id", entry.correlation_id ?? "")}>
                            {shortId(entry.correlation_id)}
                            <span class="visually-hidden"> — show this chain</span>
                          </button>
                        ) : (
                          "—"
                        )}
                      </td>
                    </tr>
                  ))
                )}
              </tbody>
            </table>
          </div>
        )}
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="entries" />
      </Card>
    </>
  );
}

export function Audit() {
  if (!can("admin")) {
    return (
      <>
        <PageHeader title="Audit" />
        <Notice tone="info" role="status">
          The audit trail is for admins. Your key's role cannot read it.
        </Notice>
      </>
    );
  }
  return <AuditTrail />;
}
