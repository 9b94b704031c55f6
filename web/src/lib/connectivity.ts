// What the dashboard knows of the platform's reachability: the gateway itself, and each
// service behind it. Every answer the client gets feeds it; the banner reads it.
import { computed, signal } from "@preact/signals";

export interface ServiceTrouble {
  /** For people: what is wrong, e.g. "down" or "cannot reach the database". */
  problem: string;
  since: number;
}

/** When the gateway stopped answering, or null while it answers. */
export const gatewayDownSince = signal<number | null>(null);
/** Services the gateway says are away, by name. */
export const serviceTrouble = signal<Readonly<Record<string, ServiceTrouble>>>({});
/** When everything came back after an outage, for a short "back" notice. */
export const recoveredAt = signal<number | null>(null);

export const outage = computed(
  () => gatewayDownSince.value !== null || Object.keys(serviceTrouble.value).length > 0,
);

function markRecoveredIfClear(wasDown: boolean): void {
  if (wasDown && !outage.value) recoveredAt.value = Date.now();
}

export function gatewayAnswered(): void {
  if (gatewayDownSince.value === null) return;
  gatewayDownSince.value = null;
  markRecoveredIfClear(true);
}

export function gatewayUnreachable(): void {
  if (gatewayDownSince.value === null) gatewayDownSince.value = Date.now();
}

export function serviceAway(service: string, problem: string): void {
  const current = serviceTrouble.value[service];
  if (current && current.problem === problem) return;
  serviceTrouble.value = {
    ...serviceTrouble.value,
    [service]: { problem, since: current?.since ?? Date.now() },
  };
}

/** Replace what is known of every service at once, from `/system-status`. */
export function servicesReported(troubles: Record<string, string>): void {
  const wasDown = Object.keys(serviceTrouble.value).length > 0;
  const next: Record<string, ServiceTrouble> = {};
  for (const [service, problem] of Object.entries(troubles)) {
    const current = serviceTrouble.value[service];
    next[service] = { problem, since: current?.since ?? Date.now() };
  }
  const same =
    Object.keys(next).length === Object.keys(serviceTrouble.value).length &&
    Object.entries(next).every(([s, t]) => serviceTrouble.value[s]?.problem === t.problem);
  if (!same) serviceTrouble.value = next;
  markRecoveredIfClear(wasDown);
}

/** Which pages lean on which service, to say what an outage affects. */
export const SERVICE_AREAS: Readonly<Record<string, string>> = {
  gateway: "sign-in, the audit trail and system status",
  decision: "decisions, cycles and performance scores",
  alerts: "alerts, risks and component health",
  optimizer: "recommendations, changes, rules, budgets, forecasts and experiments",
};
