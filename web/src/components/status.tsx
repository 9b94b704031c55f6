// Each status the API speaks, as a badge: words first, a shape, then colour.
import { label } from "../lib/format";
import { Badge, type Tone } from "./ui";

const SEVERITY: Record<string, [Tone, string]> = {
  critical: ["bad", "▲"],
  high: ["bad", "▲"],
  medium: ["warn", "◆"],
  low: ["neutral", "▽"],
};

export function Severity({ value }: { value: string | null | undefined }) {
  const [tone, icon] = SEVERITY[value ?? ""] ?? ["neutral", "○"];
  return (
    <Badge tone={tone} icon={icon}>
      {label(value)}
    </Badge>
  );
}

const STATUS: Record<string, [Tone, string]> = {
  // alerts
  active: ["bad", "●"],
  acknowledged: ["warn", "◐"],
  resolved: ["good", "✓"],
  dismissed: ["neutral", "✕"],
  // recommendations
  pending: ["info", "○"],
  approved: ["info", "◐"],
  implemented: ["good", "✓"],
  rejected: ["neutral", "✕"],
  failed: ["bad", "✕"],
  // optimizations
  applied: ["good", "✓"],
  unknown: ["warn", "?"],
  // decisions
  validated: ["good", "✓"],
  incorrect: ["bad", "✕"],
  recommended: ["info", "○"],
  skipped: ["neutral", "–"],
  // services and components
  up: ["good", "✓"],
  down: ["bad", "✕"],
  degraded: ["warn", "◆"],
  operational: ["good", "✓"],
  healthy: ["good", "✓"],
  warning: ["warn", "◆"],
  critical: ["bad", "▲"],
  offline: ["bad", "✕"],
  // experiments
  planning: ["neutral", "○"],
  running: ["info", "▶"],
  analyzing: ["info", "◐"],
  completed: ["good", "✓"],
  // reallocations
  partial: ["warn", "◐"],
  observed: ["neutral", "○"],
  no_change: ["neutral", "="],
  // risks
  mitigated: ["good", "✓"],
  // rules
  enabled: ["good", "●"],
  disabled: ["neutral", "○"],
};

export function Status({ value, text }: { value: string | null | undefined; text?: string }) {
  const [tone, icon] = STATUS[value ?? ""] ?? ["neutral", "○"];
  return (
    <Badge tone={tone} icon={icon}>
      {text ?? label(value)}
    </Badge>
  );
}
