import { useEffect, useMemo, useState } from "preact/hooks";

import {
  api,
  describeError,
  type Alert,
  type Autonomy,
  type Optimization,
  type Preferences,
  type Recommendation,
} from "../api";
import { ChartFrame } from "../components/charts/ChartFrame";
import { TimeChart } from "../components/charts/TimeChart";
import { RollbackDialog } from "../components/RollbackDialog";
import { Severity, Status } from "../components/status";
import { Badge, Card, ErrorNote, Loading, Notice, PageHeader } from "../components/ui";
import { campaignName, campaigns } from "../lib/campaigns";
import { ago, compact, day, fixed, label, money, num, platformHour, signedPct } from "../lib/format";
import { gatewayDownSince } from "../lib/connectivity";
import { openIncidents, pendingRecommendations, systemStatus, systemStatusAt, troublesOf } from "../lib/health";
import { record } from "../lib/json";
import { accountDays, type Day } from "../lib/kpis";
import { useLiveList, usePolled } from "../lib/live";
import { Link } from "../lib/router";
import { can } from "../lib/session";
import { canRollBack, changeText, CauseLink } from "./Optimizations";
import { proposedChange, score } from "./Recommendations";

const AUTONOMY: Record<Autonomy, { title: string; text: string }> = {
  observe: { title: "Observe", text: "adpilot decides and logs; nothing changes on the platform and nobody is asked." },
  recommend: { title: "Recommend", text: "Every change waits for a person to approve it." },
  act: { title: "Act", text: "adpilot applies changes within the safety limits; what the limits hold back waits for a person." },
};

function HealthStrip() {
  const status = systemStatus.value;
  if (!status) return <Loading what="Asking every service…" />;
  const troubles = troublesOf(status);
  const away = gatewayDownSince.value;
  return (
    <>
      {away !== null ? (
        <p class="small bad" style={{ marginTop: 0 }}>
          <span aria-hidden="true">▲ </span>The gateway is not answering: this is the last report, from{" "}
          {ago(new Date(systemStatusAt.value ?? away).toISOString())}.
        </p>
      ) : null}
      <div class="strip" role="list" aria-label="Services">
        {Object.keys(status.services).map((name) => {
          const trouble = troubles[name];
          return (
            <div class="cell" role="listitem" key={name}>
              <Status value={trouble ? "down" : "up"} text={trouble ? "Down" : "Up"} />
              <span>
                <strong>{name}</strong>
                {trouble && trouble !== "down" ? <span class="muted small"> · {trouble}</span> : null}
              </span>
            </div>
          );
        })}
      </div>
      <p class="small" style={{ marginTop: "0.6rem", marginBottom: 0 }}>
        Database:{" "}
        {Object.values(status.services).every((r) => record(record(r)?.["database"])?.["reachable"] !== false) ? "reachable" : <strong class="bad">unreachable for some</strong>}{" "}
        · Message broker:{" "}
        {Object.values(status.services).every((r) => record(record(r)?.["broker"])?.["connected"] !== false) ? "connected" : <strong class="bad">disconnected for some</strong>}
      </p>
      <p class="small muted" style={{ marginTop: "0.3rem" }}>
        Overall: <strong>{label(status.status)}</strong> · checked {systemStatusAt.value ? ago(new Date(systemStatusAt.value).toISOString()) : "—"} ·{" "}
        <Link href="/status">Details</Link>
      </p>
    </>
  );
}

function Freshness() {
  const cycles = usePolled(() => api.listCycles({ limit: 1 }), "cycles", 15_000);
  const list = [...campaigns.value.values()];
  const platformAsOf = list.map((c) => c.platform_as_of).sort().at(-1) ?? null;
  const synced = list.map((c) => c.synced_at).sort().at(-1) ?? null;
  const cycle = cycles.data?.items[0];
  return (
    <dl class="facts">
      <dt>Platform clock</dt>
      <dd>{platformAsOf ? platformHour(platformAsOf) : "—"}</dd>
      <dt>Campaigns synced</dt>
      <dd>{synced ? ago(synced) : "—"} ({list.length} campaigns)</dd>
      <dt>Last decision cycle</dt>
      <dd>
        {cycle ? (
          <>
            {ago(cycle.end_time ?? cycle.start_time ?? cycle.created_at)} · <Status value={cycle.status} />{" "}
            <span class="muted small">{label(cycle.trigger_event?.split(":")[0] ?? "")}</span>
          </>
        ) : cycles.error ? (
          <span class="bad">unknown: {describeError(cycles.error)}</span>
        ) : (
          "—"
        )}
      </dd>
    </dl>
  );
}

function AutonomyCard() {
  const prefs = usePolled(() => api.getPreferences(), "prefs", 30_000);
  const [saved, setSaved] = useState<Preferences | null>(null);
  const [choice, setChoice] = useState<Autonomy | "">("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const current = saved ?? prefs.data;
  if (!current) {
    return prefs.error ? <ErrorNote error={prefs.error} /> : <Loading />;
  }
  const info = AUTONOMY[current.autonomy];
  const save = async () => {
    if (!choice || choice === current.autonomy) return;
    setBusy(true);
    setError(null);
    try {
      setSaved(await api.setPreferences({ autonomy: choice, safety_limits: current.safety_limits ?? null }));
      setChoice("");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const minConfidence = record(current.effective_limits)?.["min_confidence"];
  return (
    <>
      <div class="row">
        <Badge tone={current.autonomy === "act" ? "info" : "neutral"} icon="◉">
          {info.title}
        </Badge>
      </div>
      <p class="small">{info.text}</p>
      {typeof minConfidence === "number" ? (
        <p class="small muted">A decision less than {num(minConfidence, 0)}% sure always waits for a person.</p>
      ) : null}
      {can("admin") ? (
        <div class="row" style={{ marginTop: "0.5rem" }}>
          <label class="visually-hidden" for="autonomy-choice">
            Autonomy
          </label>
          <select id="autonomy-choice" value={choice || current.autonomy} onChange={(e) => setChoice((e.currentTarget as HTMLSelectElement).value as Autonomy)}>
            {(Object.keys(AUTONOMY) as Autonomy[]).map((a) => (
              <option key={a} value={a}>
                {AUTONOMY[a].title}
              </option>
            ))}
          </select>
          <button type="button" class="small" disabled={busy || !choice || choice === current.autonomy} onClick={() => void save()}>
            Change autonomy
          </button>
        </div>
      ) : null}
      <ErrorNote error={error} />
    </>
  );
}

function Kpi({
  title,
  days,
  value,
  format,
  color,
}: {
  title: string;
  days: Day[];
  value: (d: Day) => number | null;
  format: (v: number) => string;
  color: string;
}) {
  const values = days.map(value);
  const last = values.at(-1) ?? null;
  const previous = values.at(-2) ?? null;
  const change = last !== null && previous !== null && previous !== 0 ? last / previous - 1 : null;
  const x = days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
  const lines = useMemo(() => [{ label: title, values, color }], [title, color, values.join(",")]);
  const summary =
    days.length > 0
      ? `${title} per day over the last ${days.length} complete days, from ${format(values[0] ?? 0)} on ${day(days[0]?.day)} to ${format(last ?? 0)} on ${day(days.at(-1)?.day)}.`
      : `${title}: no complete days yet.`;
  return (
    <section class="card kpi" aria-label={title}>
      <span class="kpi-label">{title}, latest complete day</span>
      <span class="kpi-value">{last === null ? "—" : format(last)}</span>
      <span class="kpi-note">
        {change === null ? "no earlier day to compare" : `${signedPct(change)} vs the day before`} · {day(days.at(-1)?.day)}
      </span>
      <ChartFrame
        title={`${title} per day`}
        summary={summary}
        table={{ columns: ["Day", title], rows: days.map((d, i) => [day(d.day), values[i] === null ? "—" : format(values[i]!)]) }}
      >
        <TimeChart x={x} lines={lines} spark height={56} />
      </ChartFrame>
    </section>
  );
}

function Kpis() {
  const list = [...campaigns.value.values()];
  const ids = list.map((c) => c.id).sort().join(",");
  const data = usePolled(() => accountDays(list), `kpis:${ids}`, 60_000, list.length > 0);
  if (list.length === 0) return <Loading what="Loading campaigns…" />;
  if (!data.data) return data.error ? <ErrorNote error={data.error} /> : <Loading what="Adding up the account's days…" />;
  const days = data.data.days;
  return (
    <div class="grid grid-3">
      <Kpi title="Spend" days={days} value={(d) => d.spend} format={(v) => money(v, 0)} color="#1f4fd1" />
      <Kpi title="Conversions" days={days} value={(d) => d.conversions} format={(v) => num(v, 0)} color="#11693a" />
      <Kpi title="ROAS" days={days} value={(d) => (d.spend > 0 ? d.revenue / d.spend : null)} format={(v) => `${fixed(v, 2)}×`} color="#7a4a00" />
    </div>
  );
}

const SEVERITY_ORDER = ["critical", "high", "medium", "low"];

function Inbox() {
  const alerts = useLiveList<Alert>((q) => api.listAlerts({ status: "active", ...q }), "inbox-alerts", { limit: 50 });
  const recs = useLiveList<Recommendation>((q) => api.listRecommendations({ status: "pending", ...q }), "inbox-recs", { limit: 100 });
  const topAlerts = [...alerts.items, ...alerts.fresh]
    .sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity))
    .slice(0, 5);
  const topRecs = [...recs.items, ...recs.fresh].sort((a, b) => score(b) - score(a)).slice(0, 5);
  const openCount = alerts.items.length + alerts.fresh.length;
  const pendingCount = recs.items.length + recs.fresh.length;
  // The navigation's counts follow what this inbox just heard, rather than lag behind it.
  useEffect(() => {
    if (!alerts.loading && !alerts.error && !alerts.hasMore) openIncidents.value = openCount;
    if (!recs.loading && !recs.error && !recs.hasMore) pendingRecommendations.value = pendingCount;
  }, [openCount, pendingCount, alerts.loading, recs.loading, alerts.error, recs.error, alerts.hasMore, recs.hasMore]);
  return (
    <Card
      title="Needs attention"
      labelledBy="inbox-title"
      description={`${openCount} open ${openCount === 1 ? "incident" : "incidents"} · ${pendingCount} pending ${pendingCount === 1 ? "recommendation" : "recommendations"}`}
    >
      <ErrorNote error={alerts.error ?? recs.error} />
      <h3 class="small muted" style={{ margin: "0.2rem 0" }}>
        Open incidents
      </h3>
      {alerts.loading ? (
        <Loading />
      ) : topAlerts.length === 0 ? (
        <p class="muted small">No open incidents.</p>
      ) : (
        <ul class="inbox-list">
          {topAlerts.map((a) => (
            <li key={a.id}>
              <div class="what">
                <div class="title">{a.title}</div>
                <div class="desc">
                  {campaignName(a.affected_entity_id)} · since {platformHour(a.first_seen_hour)}
                </div>
              </div>
              <Severity value={a.severity} />
            </li>
          ))}
        </ul>
      )}
      <p class="small">
        <Link href="/alerts">All open incidents</Link>
      </p>
      <h3 class="small muted" style={{ margin: "0.8rem 0 0.2rem" }}>
        Pending recommendations
      </h3>
      {recs.loading ? (
        <Loading />
      ) : topRecs.length === 0 ? (
        <p class="muted small">Nothing waits for a person.</p>
      ) : (
        <ul class="inbox-list">
          {topRecs.map((r) => (
            <li key={r.id}>
              <div class="what">
                <div class="title">{proposedChange(r)}</div>
                <div class="desc">
                  {campaignName(r.target_entity_id)} · confidence {num(r.confidence_level, 1)}/10 · {ago(r.created_at)}
                </div>
              </div>
              <Badge tone="info" icon="○">
                Pending
              </Badge>
            </li>
          ))}
        </ul>
      )}
      <p class="small">
        <Link href="/recommendations">Review recommendations</Link>
      </p>
    </Card>
  );
}

function LatestChanges() {
  const list = useLiveList<Optimization>((q) => api.listOptimizations({ status: "applied", ...q }), "latest-changes", { limit: 8 });
  const [undoing, setUndoing] = useState<Optimization | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const operator = can("operator");
  const rows = [...list.fresh, ...list.items].slice(0, 8);
  return (
    <Card title="Latest applied changes" labelledBy="changes-title" description="What adpilot changed on the ad platform, newest first.">
      {message ? (
        <Notice tone="good" role="status">
          {message}
        </Notice>
      ) : null}
      <ErrorNote error={list.error} />
      {list.loading ? (
        <Loading />
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Latest applied changes</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Campaign and change</th>
                <th scope="col">Why</th>
                {operator ? <th scope="col"><span class="visually-hidden">Actions</span></th> : null}
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 ? (
                <tr>
                  <td colSpan={operator ? 4 : 3} class="empty">
                    No changes yet.
                  </td>
                </tr>
              ) : (
                rows.map((o) => (
                  <tr key={o.id}>
                    <td class="nowrap small">{ago(o.applied_at ?? o.created_at)}</td>
                    <td>
                      <div class="title">{campaignName(o.target_entity_id)}</div>
                      <div class="desc">
                        {changeText(o)}
                        {o.rolled_back_by ? " · rolled back" : ""}
                      </div>
                    </td>
                    <td class="small">
                      <CauseLink o={o} />
                    </td>
                    {operator ? (
                      <td>
                        {canRollBack(o) ? (
                          <button type="button" class="small" onClick={() => { setMessage(null); setUndoing(o); }}>
                            Undo
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
      <p class="small">
        <Link href="/optimizations">The whole change log</Link>
      </p>
      {undoing ? (
        <RollbackDialog
          optimization={undoing}
          onClose={() => setUndoing(null)}
          onDone={(undo) => {
            setUndoing(null);
            setMessage(`Rolled back: ${changeText(undo)} on ${campaignName(undo.target_entity_id)}.`);
            list.refresh();
          }}
        />
      ) : null}
    </Card>
  );
}

export function Overview() {
  return (
    <>
      <PageHeader title="Overview" description="The account at a glance: is everything running, what needs you, and what adpilot just did." />
      <div class="grid grid-3">
        <Card title="Platform health" labelledBy="health-title">
          <HealthStrip />
        </Card>
        <Card title="Data freshness" labelledBy="freshness-title">
          <Freshness />
        </Card>
        <Card title="Autonomy" labelledBy="autonomy-title">
          <AutonomyCard />
        </Card>
      </div>
      <h2 class="visually-hidden">Key figures</h2>
      <div style={{ marginTop: "1rem" }}>
        <Kpis />
      </div>
      <div class="grid grid-2" style={{ marginTop: "1rem" }}>
        <Inbox />
        <LatestChanges />
      </div>
      <p class="small muted" style={{ marginTop: "1rem" }}>
        Amounts are in the ad account's currency. Key figures add up each campaign's complete days ({compact(campaigns.value.size)} campaigns).
      </p>
    </>
  );
}
