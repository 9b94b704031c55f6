// The automation rule language, read aloud: conditions and actions as sentences.
import { num, signedPct } from "./format";
import { at, list, numAt, record, strAt } from "./json";

function timeframe(value: unknown): string {
  if (value === "today") return "today";
  if (value === "yesterday") return "yesterday";
  const hours = numAt(value, "last_hours");
  if (hours !== null) return `over the last ${hours} ${hours === 1 ? "hour" : "hours"}`;
  const days = numAt(value, "last_days");
  if (days !== null) return `over the last ${days} ${days === 1 ? "day" : "days"}`;
  return "";
}

function side(value: unknown): string {
  const constant = at(value, "value");
  if (typeof constant === "number") return num(constant, 4);
  const metric = strAt(value, "metric") ?? "?";
  const factor = numAt(value, "factor");
  const frame = timeframe(at(value, "timeframe"));
  const base = frame ? `${metric} ${frame}` : metric;
  return factor !== null && factor !== 1 ? `${num(factor, 4)} × ${base}` : base;
}

export function describeConditions(value: unknown, depth = 0): string {
  const r = record(value);
  if (!r) return "—";
  for (const key of ["all", "any"] as const) {
    const members = r[key];
    if (Array.isArray(members)) {
      const parts = members.map((m) => describeConditions(m, depth + 1));
      const joined = parts.join(key === "all" ? " and " : " or ");
      return depth > 0 && parts.length > 1 ? `(${joined})` : joined;
    }
  }
  if ("left" in r) return `${side(r["left"])} ${strAt(r, "op") ?? "?"} ${side(r["right"])}`;
  return JSON.stringify(value);
}

export function describeAction(value: unknown): string {
  const type = strAt(value, "type");
  switch (type) {
    case "pause":
      return "pause the campaign";
    case "resume":
      return "resume the campaign";
    case "notify":
      return `raise a ${strAt(value, "severity") ?? "medium"} alert${strAt(value, "message") ? `: “${strAt(value, "message")}”` : ""}`;
    case "change": {
      const setting = strAt(value, "setting") === "bid" ? "bid" : "budget";
      const percent = numAt(value, "by_percent");
      const amount = numAt(value, "by_amount");
      const to = numAt(value, "to");
      if (percent !== null) return `change the ${setting} by ${signedPct(percent / 100, 1)}`;
      if (amount !== null) return `change the ${setting} by ${amount >= 0 ? "+" : ""}${num(amount)}`;
      if (to !== null) return `set the ${setting} to ${num(to)}`;
      return `change the ${setting}`;
    }
    default:
      return type ?? JSON.stringify(value);
  }
}

export function describeActions(value: unknown): string {
  const actions = Array.isArray(value) ? list(value) : value ? [value] : [];
  return actions.map(describeAction).join("; then ") || "—";
}

export const CONDITION_EXAMPLE = {
  any: [
    { left: { metric: "cpa", timeframe: { last_hours: 6 } }, op: ">", right: { value: 150 } },
    {
      left: { metric: "spend", timeframe: { last_days: 7 } },
      op: ">",
      right: { metric: "daily_budget", factor: 2 },
    },
  ],
};

export const ACTION_EXAMPLE = [
  { type: "change", setting: "budget", by_percent: -10 },
  { type: "notify", severity: "high", message: "cost per acquisition is high" },
];
