import { useEffect, useState } from "preact/hooks";

import {
  api,
  describeError,
  fieldErrors,
  type FieldError,
  type QueryOf,
  type Rule,
  type RuleCreate,
  type RulePreview,
} from "../api";
import { settingValue } from "../components/RollbackDialog";
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
import { campaignName } from "../lib/campaigns";
import { useFilters, sent } from "../lib/filters";
import { label, num, pct, platformHour, when } from "../lib/format";
import { at, boolAt, numAt, records, strAt } from "../lib/json";
import { useLiveList } from "../lib/live";
import { ACTION_EXAMPLE, CONDITION_EXAMPLE, describeActions, describeConditions } from "../lib/rules";
import { can } from "../lib/session";

const RULE_TYPES = ["budget_management", "bid_optimization", "campaign_control", "audience_management"] as const;
const FREQUENCIES = ["hourly", "daily", "continuous"] as const;
type RuleType = (typeof RULE_TYPES)[number];
type Frequency = (typeof FREQUENCIES)[number];

interface Draft {
  rule_name: string;
  rule_type: RuleType;
  execution_frequency: Frequency;
  is_active: boolean;
  trigger_conditions: string;
  action_parameters: string;
  safety_limits: string;
}

function draftOf(rule: Rule | null): Draft {
  if (!rule) {
    return {
      rule_name: "",
      rule_type: "budget_management",
      execution_frequency: "hourly",
      is_active: false,
      trigger_conditions: JSON.stringify(CONDITION_EXAMPLE, null, 2),
      action_parameters: JSON.stringify(ACTION_EXAMPLE, null, 2),
      safety_limits: "",
    };
  }
  return {
    rule_name: rule.rule_name,
    rule_type: rule.rule_type,
    execution_frequency: rule.execution_frequency ?? "hourly",
    is_active: rule.is_active ?? false,
    trigger_conditions: JSON.stringify(rule.trigger_conditions, null, 2),
    action_parameters: JSON.stringify(rule.action_parameters, null, 2),
    safety_limits: rule.safety_limits ? JSON.stringify(rule.safety_limits, null, 2) : "",
  };
}

function parseJson(text: string, field: string, errors: FieldError[]): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    errors.push({ field, message: `not valid JSON (${e instanceof Error ? e.message : "parse error"})` });
    return undefined;
  }
}

function RuleForm({
  rule,
  onSaved,
  onCancel,
}: {
  rule: Rule | null;
  onSaved: (rule: Rule) => void;
  onCancel: () => void;
}) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(rule));
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof Draft>(name: K, value: Draft[K]) => setDraft({ ...draft, [name]: value });
  const errorsFor = (prefix: string) => errors.filter((e) => e.field === prefix || e.field.startsWith(`${prefix}.`));

  const submit = async (event: Event) => {
    event.preventDefault();
    const problems: FieldError[] = [];
    if (!draft.rule_name.trim()) problems.push({ field: "rule_name", message: "a rule needs a name" });
    const conditions = parseJson(draft.trigger_conditions, "trigger_conditions", problems);
    const actions = parseJson(draft.action_parameters, "action_parameters", problems);
    const limits = draft.safety_limits.trim() ? parseJson(draft.safety_limits, "safety_limits", problems) : null;
    if (problems.length > 0) {
      setErrors(problems);
      setError("Fix the fields marked below.");
      return;
    }
    const body: RuleCreate = {
      rule_name: draft.rule_name.trim(),
      rule_type: draft.rule_type,
      execution_frequency: draft.execution_frequency,
      is_active: draft.is_active,
      trigger_conditions: conditions as RuleCreate["trigger_conditions"],
      action_parameters: actions as RuleCreate["action_parameters"],
      safety_limits: (limits ?? null) as { [key: string]: unknown } | null,
    };
    setBusy(true);
    setErrors([]);
    setError(null);
    try {
      const saved = rule ? await api.updateAutomationRule(rule.id, body) : await api.createAutomationRule(body);
      onSaved(saved);
    } catch (e) {
      const fields = fieldErrors(e);
      setErrors(fields);
      setError(fields.length > 0 ? "The rule was not saved: fix the fields marked below." : describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const FieldErrors = ({ prefix }: { prefix: string }) => {
    const list = errorsFor(prefix);
    if (list.length === 0) return null;
    return (
      <ul class="field-error" id={`${prefix}-errors`} style={{ margin: 0, paddingLeft: "1.1rem" }}>
        {list.map((e, i) => (
          <li key={i}>
            <code>{e.field}</code>: {e.message}
          </li>
        ))}
      </ul>
    );
  };

  const title = rule ? `Edit rule “${rule.rule_name}”` : "New rule";
  return (
    <Card title={title} labelledBy="rule-form-title">
      <form onSubmit={submit} noValidate aria-labelledby="rule-form-title">
        {error ? (
          <Notice tone="bad" role="alert">
            {error}
          </Notice>
        ) : null}
        <div class="form-grid">
          <div class="field">
            <label for="rule-name">Name</label>
            <input id="rule-name" type="text" value={draft.rule_name} onInput={(e) => set("rule_name", (e.currentTarget as HTMLInputElement).value)} aria-invalid={errorsFor("rule_name").length > 0 || undefined} />
            <FieldErrors prefix="rule_name" />
          </div>
          <SelectField label="Rule type" id="rule-type" value={draft.rule_type} options={RULE_TYPES.map((t) => ({ value: t, label: label(t) }))} onChange={(v) => set("rule_type", v as RuleType)} />
          <SelectField label="Runs" id="rule-frequency" value={draft.execution_frequency} options={FREQUENCIES.map((t) => ({ value: t, label: label(t) }))} onChange={(v) => set("execution_frequency", v as Frequency)} />
          <div class="field wide">
            <label for="rule-conditions">Conditions (JSON)</label>
            <textarea id="rule-conditions" value={draft.trigger_conditions} onInput={(e) => set("trigger_conditions", (e.currentTarget as HTMLTextAreaElement).value)} aria-describedby="rule-conditions-hint" aria-invalid={errorsFor("trigger_conditions").length > 0 || undefined} />
            <span class="hint" id="rule-conditions-hint">
              Groups <code>{"{\"all\": [...]}"}</code> or <code>{"{\"any\": [...]}"}</code> of comparisons{" "}
              <code>{"{\"left\", \"op\", \"right\"}"}</code>; a side is <code>{"{\"metric\", \"timeframe\", \"factor\"}"}</code> or <code>{"{\"value\"}"}</code>. Reads as: {describeConditions(safeParse(draft.trigger_conditions))}
            </span>
            <FieldErrors prefix="trigger_conditions" />
          </div>
          <div class="field wide">
            <label for="rule-actions">Actions (JSON)</label>
            <textarea id="rule-actions" style={{ minHeight: "6rem" }} value={draft.action_parameters} onInput={(e) => set("action_parameters", (e.currentTarget as HTMLTextAreaElement).value)} aria-describedby="rule-actions-hint" aria-invalid={errorsFor("action_parameters").length > 0 || undefined} />
            <span class="hint" id="rule-actions-hint">
              <code>pause</code>, <code>resume</code>, <code>change</code> (budget or bid, with <code>by_percent</code>, <code>by_amount</code> or <code>to</code>) and <code>notify</code>. Reads as: {describeActions(safeParse(draft.action_parameters))}
            </span>
            <FieldErrors prefix="action_parameters" />
          </div>
          <div class="field wide">
            <label for="rule-limits">Safety limits for this rule (JSON, optional)</label>
            <textarea id="rule-limits" style={{ minHeight: "4rem" }} value={draft.safety_limits} placeholder='{"cooldown_hours": 12}' onInput={(e) => set("safety_limits", (e.currentTarget as HTMLTextAreaElement).value)} aria-invalid={errorsFor("safety_limits").length > 0 || undefined} />
            <FieldErrors prefix="safety_limits" />
          </div>
          <label class="check wide">
            <input type="checkbox" checked={draft.is_active} onChange={(e) => set("is_active", (e.currentTarget as HTMLInputElement).checked)} />
            Enabled: the rule runs on its schedule
          </label>
        </div>
        <div class="row" style={{ marginTop: "0.9rem" }}>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Saving…" : rule ? "Save rule" : "Create rule"}
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </Card>
  );
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function actionText(a: unknown): string {
  const verdict = strAt(a, "verdict");
  const kind = strAt(a, "kind");
  if (verdict === "apply") {
    const clamps = records(at(a, "clamps"));
    return `${label(kind)} ${settingValue(kind, at(a, "before"))} → ${settingValue(kind, at(a, "after"))}${clamps.length ? ` (held by ${clamps.map((c) => strAt(c, "bound")).join(", ")})` : ""}`;
  }
  if (verdict === "refuse") return `would not ${label(kind ?? strAt(a, "action")).toLowerCase()}: ${strAt(a, "detail") ?? label(strAt(a, "reason"))}`;
  const action = strAt(a, "action");
  if (action === "notify") return `alert (${strAt(a, "severity") ?? ""}): ${strAt(a, "message") ?? ""}`;
  return label(action);
}

function PreviewPanel({ rule, preview, onClose }: { rule: Rule; preview: RulePreview; onClose: () => void }) {
  const rows = records(preview.campaigns);
  useEffect(() => {
    // The preview opens below the list: bring it into view and move focus to it.
    const heading = document.getElementById("preview-title");
    if (!heading) return;
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
    heading.scrollIntoView({ block: "start", behavior: "smooth" });
  }, [preview]);
  const matched = rows.filter((r) => boolAt(r, "matched") === true).length;
  return (
    <Card
      title={`Preview: ${rule.rule_name}`}
      labelledBy="preview-title"
      description={`As of ${platformHour(preview.as_of)} (settings from the ${preview.settings_from}). ${matched} of ${rows.length} campaigns match. Nothing was changed.`}
      actions={
        <button type="button" class="small" onClick={onClose}>
          Close preview
        </button>
      }
    >
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Which campaigns the rule matches and why</caption>
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col">Matches</th>
              <th scope="col">Why</th>
              <th scope="col">What it would do</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row, i) => {
              const yes = boolAt(row, "matched") === true;
              const comparisons = records(at(row, "evaluation", "comparisons"));
              const reason = strAt(row, "reason") ?? strAt(row, "skipped") ?? strAt(row, "evaluation", "reason");
              const acts = records(yes ? at(row, "actions") : at(row, "would_act_with"));
              return (
                <tr key={strAt(row, "campaign_id") ?? i}>
                  <td>{strAt(row, "name") ?? campaignName(strAt(row, "campaign_id"))}</td>
                  <td>{yes ? <Status value="applied" text="Matches" /> : <Status value="skipped" text="Skipped" />}</td>
                  <td class="small">
                    {reason ? <div>{reason}</div> : null}
                    <ul style={{ margin: 0, paddingLeft: "1rem" }}>
                      {comparisons.map((c, j) => {
                        const undefinedReason = strAt(c, "left", "undefined") ?? strAt(c, "right", "undefined");
                        const ok = boolAt(c, "matched") === true;
                        return (
                          <li key={j}>
                            <span aria-hidden="true">{ok ? "✓ " : "✕ "}</span>
                            <span class="visually-hidden">{ok ? "holds: " : "fails: "}</span>
                            {undefinedReason ??
                              `${strAt(c, "left", "label")} = ${num(numAt(c, "left", "value"), 2)} ${strAt(c, "op")} ${strAt(c, "right", "label")}${strAt(c, "right", "label") !== num(numAt(c, "right", "value"), 4) ? ` (${num(numAt(c, "right", "value"), 2)})` : ""}`}
                          </li>
                        );
                      })}
                    </ul>
                  </td>
                  <td class="small">
                    {acts.length === 0 ? <span class="muted">nothing</span> : null}
                    {acts.map((a, j) => (
                      <div key={j}>
                        {yes ? "" : <span class="muted">if it matched: </span>}
                        {actionText(a)}
                      </div>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

export function Rules() {
  const filters = useFilters(["rule_type", "is_active", "execution_frequency"] as const);
  const { is_active: active, ...rest } = sent(filters.values);
  const query: QueryOf<"listAutomationRules"> = { ...rest, ...(active ? { is_active: active === "true" } : {}) };
  const list = useLiveList<Rule>((q) => api.listAutomationRules({ ...query, ...q }), filters.key);
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const [previewing, setPreviewing] = useState<{ rule: Rule; preview: RulePreview } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<{ tone: "good" | "bad"; text: string } | null>(null);
  const admin = can("admin");
  const operator = can("operator");

  const toggle = async (rule: Rule) => {
    setBusy(rule.id);
    setMessage(null);
    try {
      const saved = await api.updateAutomationRule(rule.id, { is_active: !rule.is_active });
      list.replace(saved);
      setMessage({ tone: "good", text: `${saved.rule_name} is ${saved.is_active ? "enabled" : "disabled"}.` });
    } catch (e) {
      setMessage({ tone: "bad", text: describeError(e) });
    } finally {
      setBusy(null);
    }
  };

  const preview = async (rule: Rule) => {
    setBusy(rule.id);
    setMessage(null);
    try {
      setPreviewing({ rule, preview: await api.previewAutomationRule(rule.id) });
    } catch (e) {
      setMessage({ tone: "bad", text: `Could not preview ${rule.rule_name}: ${describeError(e)}` });
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <PageHeader title="Rules" description="Automation rules: conditions on a campaign's metrics and settings, and what to do when they hold. Preview shows what a rule would do now, without doing it.">
        <LiveStamp updatedAt={list.updatedAt} paused={list.paused} error={list.error} />
        {admin && editing === null ? (
          <button type="button" class="primary" onClick={() => { setMessage(null); setEditing("new"); }}>
            New rule
          </button>
        ) : null}
      </PageHeader>
      {editing !== null ? (
        <div style={{ marginBottom: "1rem" }}>
          <RuleForm
            key={editing === "new" ? "new" : editing.id}
            rule={editing === "new" ? null : editing}
            onCancel={() => setEditing(null)}
            onSaved={(rule) => {
              setEditing(null);
              setMessage({ tone: "good", text: `Saved ${rule.rule_name}.` });
              list.replace(rule);
              list.refresh();
            }}
          />
        </div>
      ) : null}
      <Card>
        <div class="filters" role="search" aria-label="Filter rules">
          <SelectField label="Rule type" value={filters.values.rule_type} allLabel="All" options={RULE_TYPES.map((t) => ({ value: t, label: label(t) }))} onChange={(v) => filters.set("rule_type", v)} />
          <SelectField label="State" value={filters.values.is_active} allLabel="All" options={[{ value: "true", label: "Enabled" }, { value: "false", label: "Disabled" }]} onChange={(v) => filters.set("is_active", v)} />
          <SelectField label="Runs" value={filters.values.execution_frequency} allLabel="All" options={FREQUENCIES.map((t) => ({ value: t, label: label(t) }))} onChange={(v) => filters.set("execution_frequency", v)} />
        </div>
        {message ? (
          <Notice tone={message.tone} role="status">
            {message.text}
          </Notice>
        ) : null}
        <ErrorNote error={list.error} prefix="Could not load rules." />
        <NewRows count={list.fresh.length} arrived={list.arrived.size} onShow={list.showFresh} />
        {list.loading ? (
          <Loading what="Loading rules…" />
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Automation rules, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Rule</th>
                  <th scope="col">When</th>
                  <th scope="col">Then</th>
                  <th scope="col">State</th>
                  <th scope="col">Runs</th>
                  <th scope="col" class="num">Fired</th>
                  <th scope="col" class="num">Applied</th>
                  {operator ? <th scope="col"><span class="visually-hidden">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody>
                {list.items.length === 0 ? (
                  <tr>
                    <td colSpan={operator ? 8 : 7} class="empty">
                      No rules yet.{admin ? " Create one with New rule." : ""}
                    </td>
                  </tr>
                ) : (
                  list.items.map((rule) => (
                    <tr key={rule.id}>
                      <td>
                        <div class="title">{rule.rule_name}</div>
                        <div class="desc">{label(rule.rule_type)} · created {when(rule.created_at)}</div>
                      </td>
                      <td class="small">{describeConditions(rule.trigger_conditions)}</td>
                      <td class="small">{describeActions(rule.action_parameters)}</td>
                      <td>
                        <Status value={rule.is_active ? "enabled" : "disabled"} />
                      </td>
                      <td class="small">
                        {label(rule.execution_frequency)}
                        <div class="muted">{rule.last_execution_at ? `last fired ${when(rule.last_execution_at)}` : "never fired"}</div>
                      </td>
                      <td class="num">{num(rule.execution_count, 0)}</td>
                      <td class="num">{rule.success_rate === null ? "—" : pct(rule.success_rate / 100, 0)}</td>
                      {operator ? (
                        <td>
                          <div class="actions">
                            <button type="button" class="small" disabled={busy !== null} onClick={() => void preview(rule)}>
                              Preview
                            </button>
                            {admin ? (
                              <>
                                <button type="button" class="small" disabled={busy !== null} onClick={() => void toggle(rule)}>
                                  {rule.is_active ? "Disable" : "Enable"}
                                </button>
                                <button type="button" class="small" disabled={busy !== null} onClick={() => { setMessage(null); setEditing(rule); }}>
                                  Edit
                                </button>
                              </>
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
        <ListFoot shown={list.items.length} hasMore={list.hasMore} loadingMore={list.loadingMore} onMore={() => void list.loadMore()} noun="rules" />
      </Card>
      {previewing ? (
        <div style={{ marginTop: "1rem" }}>
          <PreviewPanel rule={previewing.rule} preview={previewing.preview} onClose={() => setPreviewing(null)} />
        </div>
      ) : null}
    </>
  );
}
