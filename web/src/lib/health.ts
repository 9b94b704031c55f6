// The platform's own account of its health, asked for every few seconds while signed in:
// it drives the outage banner, the health strip and the counts beside the navigation.
import { signal } from "@preact/signals";

import { api, healthApi, type SystemStatus } from "../api";
import { record } from "./json";
import { servicesReported } from "./connectivity";

export const systemStatus = signal<SystemStatus | null>(null);
export const systemStatusAt = signal<number | null>(null);
export const openIncidents = signal<number | null>(null);
export const pendingRecommendations = signal<number | null>(null);

/** What is wrong with each service, in words, from one `/system-status` answer. */
export function troublesOf(status: SystemStatus): Record<string, string> {
  const troubles: Record<string, string> = {};
  for (const [name, raw] of Object.entries(status.services)) {
    const report = record(raw) ?? {};
    const problems: string[] = [];
    if (report["status"] !== "up") problems.push("down");
    if (record(report["database"])?.["reachable"] === false) problems.push("cannot reach the database");
    if (record(report["broker"])?.["connected"] === false) problems.push("cannot reach the message broker");
    if (problems.length > 0) troubles[name] = problems.join("; ");
  }
  return troubles;
}

async function checkStatus(): Promise<boolean> {
  try {
    const status = await healthApi.getSystemStatus();
    systemStatus.value = status;
    systemStatusAt.value = Date.now();
    const troubles = troublesOf(status);
    servicesReported(troubles);
    return Object.keys(troubles).length === 0;
  } catch {
    return false;
  }
}

async function countAttention(): Promise<void> {
  const [alerts, recommendations] = await Promise.allSettled([
    api.listAlerts({ status: "active", limit: 100 }),
    api.listRecommendations({ status: "pending", limit: 100 }),
  ]);
  if (alerts.status === "fulfilled") openIncidents.value = alerts.value.items.length;
  if (recommendations.status === "fulfilled") {
    pendingRecommendations.value = recommendations.value.items.length;
  }
}

/** Start asking; returns the function that stops. Hidden tabs ask nothing. */
export function watchHealth(): () => void {
  let statusTimer: number | undefined;
  let countTimer: number | undefined;
  let stopped = false;

  const status = async () => {
    window.clearTimeout(statusTimer);
    if (stopped || document.hidden) return;
    const healthy = await checkStatus();
    if (!stopped) statusTimer = window.setTimeout(() => void status(), healthy ? 10_000 : 4_000);
  };
  const counts = async () => {
    window.clearTimeout(countTimer);
    if (stopped || document.hidden) return;
    await countAttention().catch(() => undefined);
    if (!stopped) countTimer = window.setTimeout(() => void counts(), 15_000);
  };
  const onVisibility = () => {
    if (!document.hidden) {
      void status();
      void counts();
    }
  };
  document.addEventListener("visibilitychange", onVisibility);
  void status();
  void counts();
  return () => {
    stopped = true;
    window.clearTimeout(statusTimer);
    window.clearTimeout(countTimer);
    document.removeEventListener("visibilitychange", onVisibility);
  };
}

/** Count again at once, after a person acted on an incident or a recommendation. */
export function recountAttention(): void {
  void countAttention().catch(() => undefined);
}

/** Check again at once (after an error, say). */
export function recheckHealth(): void {
  void checkStatus();
}
