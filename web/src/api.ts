// The dashboard's one door to the API: the client generated from the OpenAPI document
// (clients/typescript). Pages import the calls and the types from here and nowhere else.
import { ApiError, createClient, type AdpilotClient, type Schemas } from "@client";

import {
  gatewayAnswered,
  gatewayUnreachable,
  serviceAway,
} from "./lib/connectivity";
import { apiKey, endSession, type Role } from "./lib/session";

export { ApiError };
export type Operations = AdpilotClient;
export type Alert = Schemas["Alert"];
export type Decision = Schemas["Decision"];
export type Recommendation = Schemas["Recommendation"];
export type Optimization = Schemas["OptimizationRecord"];
export type Rule = Schemas["AutomationRule"];
export type RuleCreate = Schemas["RuleCreate"];
export type RuleUpdate = Schemas["RuleUpdate"];
export type RulePreview = Schemas["RulePreview"];
export type BudgetPool = Schemas["BudgetPool"];
export type Reallocation = Schemas["Reallocation"];
export type ReallocationPlan = Schemas["ReallocationPlan"];
export type CampaignAllocation = Schemas["CampaignAllocation"];
export type CampaignCurves = Schemas["CampaignCurves"];
export type CurveFit = Schemas["CurveFit"];
export type Forecast = Schemas["Forecast"];
export type Experiment = Schemas["Experiment"];
export type ExperimentResults = Schemas["ExperimentResults"];
export type PerformanceScore = Schemas["PerformanceScore"];
export type AuditEntry = Schemas["AuditEntry"];
export type SystemStatus = Schemas["SystemStatus"];
export type HealthRecord = Schemas["SystemHealthRecord"];
export type Campaign = Schemas["AdCampaign"];
export type Preferences = Schemas["Preferences"];
export type Autonomy = Schemas["Preferences"]["autonomy"];
export type Cycle = Schemas["Cycle"];
export type Risk = Schemas["Risk"];
export type CompetitiveIntelligence = Schemas["CompetitiveIntelligence"];
export type CompetitorEvent = Schemas["CompetitorEvent"];
export type CampaignBenchmarks = Schemas["CampaignBenchmarks"];
export type Comparison = Schemas["Comparison"];
export type ImportSummary = Schemas["ImportSummary"];

/** The query (paging and filters) a list call of the client takes. */
type ListCall = { [K in keyof Operations]: K extends `list${string}` ? K : never }[keyof Operations];
export type QueryOf<K extends ListCall> = NonNullable<Parameters<Operations[K]>[0]>;

/** A page of a list as the API answers it. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Watches every answer for what it says about the platform's reachability. */
function observing(signOutOn401: boolean): (request: Request) => Promise<Response> {
  return async (request) => {
    let response: Response;
    try {
      response = await fetch(request);
    } catch (error) {
      // A timeout counts; a call the page itself gave up on (it moved on) does not.
      if (!(error instanceof DOMException && error.name === "AbortError")) gatewayUnreachable();
      throw error;
    }
    const json = (response.headers.get("Content-Type") ?? "").includes("json");
    if (!json && response.status >= 502 && response.status <= 504) {
      // A proxy in front answered for a gateway that did not.
      gatewayUnreachable();
      return response;
    }
    gatewayAnswered();
    if (response.status === 503 || response.status === 504) {
      const body = (await response
        .clone()
        .json()
        .catch(() => null)) as { error?: { code?: string; details?: { service?: string } } } | null;
      const service = body?.error?.details?.service;
      if (typeof service === "string") {
        serviceAway(service, response.status === 504 ? "not answering in time" : "down");
      }
    }
    if (response.status === 401 && signOutOn401) {
      endSession("The API no longer accepts this key (it may have been revoked or expired). Sign in again.");
    }
    return response;
  };
}

function build(
  getKey: () => string | null,
  signOutOn401: boolean,
  retries: { maxAttempts: number; timeoutMs: number },
): Operations {
  return createClient({
    // The page's own origin: the gateway serves the dashboard, or the dev server forwards.
    baseUrl: "",
    getApiKey: getKey,
    fetch: observing(signOutOn401),
    maxRetryDelayMs: 4_000,
    ...retries,
  });
}

/** The API as the signed-in person. The gateway gives up on a service after 10 s, so an
 * answer comes within that; the dashboard polls again soon, so it retries a call once. */
export const api: Operations = build(() => apiKey.value, true, { maxAttempts: 2, timeoutMs: 15_000 });

/** For the health check alone: the gateway answers `/system-status` within about 3 s
 * whatever the services do, so a gateway silent for longer is taken as away. */
export const healthApi: Operations = build(() => apiKey.value, true, { maxAttempts: 1, timeoutMs: 6_000 });

/** The API with a key not yet accepted, for the sign-in form. */
export function apiWithKey(key: string): Operations {
  return build(() => key, false, { maxAttempts: 2, timeoutMs: 15_000 });
}

/** The role a credential carries, as the gateway reads it (`GET /api/ai/session`): it only
 * decides which buttons to show; the gateway checks the credential on every call. */
export async function roleOf(client: Operations): Promise<Role> {
  const session = await client.getSession();
  return session.role;
}

/** A failure the outage banner already explains: no answer, or a service away. */
export function isOutage(error: unknown): boolean {
  return error instanceof ApiError && [0, 502, 503, 504].includes(error.status);
}

/** The words to show a person for a failed call. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return "The adpilot gateway cannot be reached. Check your connection; the page retries by itself.";
    if (error.status === 401) return "The API did not accept this key.";
    if (error.status === 403) return "Your role does not allow this.";
    if (error.status === 503 || error.status === 504) {
      return `${error.message}. It will be retried shortly.`;
    }
    const fields = fieldErrors(error);
    if (fields.length > 0) {
      return `${error.message}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`;
    }
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}

export interface FieldError {
  field: string;
  message: string;
}

/** The per-field problems of a 422, as the API names them (`details.fields`). */
export function fieldErrors(error: unknown): FieldError[] {
  if (!(error instanceof ApiError)) return [];
  const details: unknown = error.details;
  const fields =
    details !== null && typeof details === "object" && "fields" in details
      ? (details as { fields: unknown }).fields
      : null;
  if (!Array.isArray(fields)) return [];
  return fields
    .filter((e): e is Record<string, unknown> => e !== null && typeof e === "object")
    .map((e) => ({ field: String(e["field"] ?? ""), message: String(e["message"] ?? "") }))
    .filter((e) => e.field !== "" || e.message !== "");
}
