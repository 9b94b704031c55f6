import { api } from "../api";
import { Status as StatusBadge } from "../components/status";
import { Badge, Card, ErrorNote, Loading, PageHeader } from "../components/ui";
import { ago, duration, int, label, num, pct, when } from "../lib/format";
import { gatewayDownSince } from "../lib/connectivity";
import { systemStatus, systemStatusAt, troublesOf } from "../lib/health";
import { at, list, numAt, record, strAt } from "../lib/json";
import { usePolled } from "../lib/live";

function Check({ ok, yes, no }: { ok: boolean | null; yes: string; no: string }) {
  if (ok === null) return <span class="muted">—</span>;
  return ok ? <Badge tone="good">{yes}</Badge> : <Badge tone="bad">{no}</Badge>;
}

function Services() {
  const status = systemStatus.value;
  if (!status) return <Loading what="Asking every service…" />;
  const troubles = troublesOf(status);
  return (
    <Card
      title="Services"
      labelledBy="services-title"
      description={`Each service's own report, through the gateway; checked ${systemStatusAt.value ? ago(new Date(systemStatusAt.value).toISOString()) : "—"}.`}
      actions={<StatusBadge value={status.status} />}
    >
      {gatewayDownSince.value !== null ? (
        <p class="small bad" style={{ marginTop: 0 }}>
          <span aria-hidden="true">▲ </span>The gateway is not answering: this is its last report, from{" "}
          {ago(new Date(systemStatusAt.value ?? gatewayDownSince.value).toISOString())}.
        </p>
      ) : null}
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Services and their dependencies</caption>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Status</th>
              <th scope="col">Database</th>
              <th scope="col">Broker</th>
              <th scope="col" class="num">Up for</th>
              <th scope="col" class="num">Outbox backlog</th>
              <th scope="col" class="num">Consumer lag</th>
              <th scope="col" class="num">Dead letters</th>
              <th scope="col" class="num">Events handled</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(status.services).map(([name, raw]) => {
              const r = record(raw) ?? {};
              const down = r["status"] !== "up";
              const database = at(r, "database", "reachable");
              const broker = at(r, "broker", "connected");
              const oldest = numAt(r, "outbox_oldest_age_seconds");
              const deadOldest = numAt(r, "dead_letters_oldest_age_seconds");
              return (
                <tr key={name}>
                  <th scope="row" style={{ fontWeight: 600 }}>
                    {name}
                  </th>
                  <td>
                    <StatusBadge value={down ? "down" : "up"} text={down ? "Down" : "Up"} />
                    {troubles[name] && troubles[name] !== "down" ? <div class="desc bad">{troubles[name]}</div> : null}
                    {strAt(r, "error") ? <div class="desc bad">{strAt(r, "error")}</div> : null}
                  </td>
                  <td>
                    <Check ok={typeof database === "boolean" ? database : null} yes="Reachable" no="Unreachable" />
                  </td>
                  <td>
                    <Check ok={typeof broker === "boolean" ? broker : null} yes="Connected" no="Disconnected" />
                  </td>
                  <td class="num">{duration(numAt(r, "uptime_seconds"))}</td>
                  <td class="num">
                    {int(numAt(r, "outbox_backlog"))}
                    {oldest !== null ? <div class="desc">oldest {duration(oldest)}</div> : null}
                  </td>
                  <td class="num">{int(numAt(r, "consumer_lag"))}</td>
                  <td class="num">
                    {int(numAt(r, "dead_letters"))}
                    {deadOldest !== null ? <div class="desc">oldest {duration(deadOldest)}</div> : null}
                  </td>
                  <td class="num">{int(numAt(r, "events_consumed"))}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function Heartbeats() {
  const health = usePolled(() => api.listSystemHealth({ limit: 50 }), "system-health", 15_000);
  const latest = new Map<string, NonNullable<typeof health.data>["items"][number]>();
  for (const h of health.data?.items ?? []) {
    const current = latest.get(h.component_name);
    if (!current || (h.last_heartbeat ?? h.created_at) > (current.last_heartbeat ?? current.created_at)) latest.set(h.component_name, h);
  }
  return (
    <Card title="Component heartbeats" labelledBy="heartbeats-title" description="The latest heartbeat each component sent, and its uptime.">
      <ErrorNote error={health.error} />
      {health.loading && !health.data ? (
        <Loading />
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Latest heartbeat per component</caption>
            <thead>
              <tr>
                <th scope="col">Component</th>
                <th scope="col">Health</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col" class="num">Uptime</th>
                <th scope="col">Errors</th>
              </tr>
            </thead>
            <tbody>
              {latest.size === 0 ? (
                <tr>
                  <td colSpan={5} class="empty">
                    No heartbeats yet.
                  </td>
                </tr>
              ) : (
                [...latest.values()]
                  .sort((a, b) => a.component_name.localeCompare(b.component_name))
                  .map((h) => (
                    <tr key={h.component_name}>
                      <th scope="row" style={{ fontWeight: 600 }}>
                        {label(h.component_name)}
                      </th>
                      <td>
                        <StatusBadge value={h.health_status} />
                      </td>
                      <td>
                        {ago(h.last_heartbeat)} <span class="muted small">({when(h.last_heartbeat)})</span>
                      </td>
                      <td class="num">{h.uptime_percentage === null ? "—" : pct(h.uptime_percentage / 100, 2)}</td>
                      <td class="small">
                        {list(h.error_logs).length === 0 ? <span class="muted">none</span> : list(h.error_logs).slice(0, 3).map((e, i) => <div key={i}>{typeof e === "string" ? e : strAt(e, "message") ?? JSON.stringify(e)}</div>)}
                      </td>
                    </tr>
                  ))
              )}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function Models() {
  const models = usePolled(() => api.listModelVersions({ limit: 50 }), "models", 60_000);
  return (
    <Card title="Models" labelledBy="models-title" description="The detector, scorer, policy and forecaster each service runs, as registered.">
      <ErrorNote error={models.error} />
      {models.loading && !models.data ? (
        <Loading />
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Registered models</caption>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Version</th>
                <th scope="col">Type</th>
                <th scope="col">Deployment</th>
                <th scope="col">Registered</th>
              </tr>
            </thead>
            <tbody>
              {(models.data?.items ?? []).map((m) => (
                <tr key={m.id}>
                  <th scope="row" style={{ fontWeight: 600 }}>
                    {label(m.model_name)}
                  </th>
                  <td class="mono">{m.version}</td>
                  <td>{label(m.model_type)}</td>
                  <td>{label(m.deployment_status)}</td>
                  <td>{when(m.deployed_at ?? m.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

export function Status() {
  return (
    <>
      <PageHeader title="Status" description="Each service's own view of its health, its database and message broker, and the platform's documentation.">
        <a class="button" href="/docs">
          API documentation
        </a>
      </PageHeader>
      <div class="stack">
        <Services />
        <Heartbeats />
        <Models />
        <p class="small muted">
          The API's contract: <a href="/api/ai/openapi.json">OpenAPI document</a> · <a href="/api/ai/asyncapi.json">event catalogue (AsyncAPI)</a>. Figures above refresh every {num(10, 0)} seconds.
        </p>
      </div>
    </>
  );
}
