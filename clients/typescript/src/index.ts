/**
 * A typed client for the adpilot HTTP API (`/api/ai`), generated from the gateway's OpenAPI
 * document. Browser-safe: it uses only `fetch`, `Request`, `AbortSignal` and `crypto`.
 *
 *     import { createClient, items, ApiError } from "@adpilot/client";
 *
 *     const api = createClient({ baseUrl: "http://localhost:8080", apiKey: "adp_..." });
 *     // or, in a page the gateway serves, with a key the user may change:
 *     const api = createClient({ getApiKey: () => localStorage.getItem("adpilot.key") });
 *
 *     const page = await api.listAlerts({ status: "active", limit: 20 });  // {items, next_cursor}
 *     const alert = await api.getAlert(page.items[0].id);
 *     await api.acknowledgeAlert(alert.id);
 *     const decision = await api.createDecision({ decision_type: "keyword_bid" });
 *     await api.updateAutomationRule(ruleId, { is_active: false });
 *     for await (const d of items(api.listDecisions, { decision_type: "keyword_bid" })) { ... }
 *
 * - **One function per operation**, named after its `operationId` in camel case
 *   (`list_alerts` -> `listAlerts`; see `operations.ts` for every one, with its route and
 *   role). Arguments in order: the path's `id`, the JSON body, the query (paging and filters),
 *   then `CallOptions` (`idempotencyKey`, `signal`). Each resolves to the response body.
 *   Types come from `schema.ts` (openapi-typescript) and calls go through openapi-fetch, so a
 *   route changed in its contract changes these types. `npm run generate` regenerates both
 *   files from `openapi.json`; a test fails when they differ from what the gateway serves.
 * - **Paging.** Lists answer `{items, next_cursor}`, newest first; pass `next_cursor` back as
 *   `cursor`. `pages(list, query)` and `items(list, query)` follow the cursors for you;
 *   `collect(list, query, {max})` gathers items into an array.
 * - **Errors.** Every failure throws one class, `ApiError`, with `status`, `code`, `message`,
 *   `details` (for `validation_error`, `details.fields` names each bad field), `retryAfter`
 *   (seconds, from `Retry-After`) and `requestId`. With `status` 0 and code `network_error`,
 *   the server was not reached after the retries. An aborted call rejects with the signal's
 *   reason instead.
 * - **Retries without doing things twice.** Every POST, PUT and PATCH carries an
 *   `Idempotency-Key` (a new UUID per call unless `CallOptions.idempotencyKey` gives one),
 *   kept across the client's own retries: after a cut connection, a timeout, a 503, or a 409
 *   `idempotency_in_progress`, the call is sent again, honouring `Retry-After`, and the
 *   gateway answers a repeat from its store instead of acting a second time. Other errors
 *   (401, 403, 404, 409, 422, 429...) are thrown at once.
 * - **The dashboard's six calls** keep their names: `fetchAICycles`, `fetchAIDecisions`,
 *   `fetchAIPerformanceScores`, `fetchAIAlerts`, `fetchAIRecommendations` (each the items of
 *   the newest page, `limit` 50 unless the query says otherwise, up to 500) and
 *   `fetchAISystemStatus`. Each takes the client first.
 * - **Types** of every body: `Schema<"Alert">`, `Schema<"DecisionCreate">`...; of an
 *   operation: `Query<"list_alerts">`, `Body<"create_decision">`, `Data<"get_alert">`.
 *
 * The package exports this TypeScript source. A Vite app beside this folder imports it by an
 * alias to `src/index.ts` (resolving `openapi-fetch`, its one runtime dependency, from the
 * app's own node_modules), or as `"@adpilot/client": "file:../clients/typescript"`.
 */

import type { AdpilotClient } from "./client.js";
import type { CallOptions, Query } from "./call.js";
import type { components } from "./schema.js";

export { createClient, type AdpilotClient, type ClientOptions } from "./client.js";
export type { Body, CallOptions, Data, OperationId, Query } from "./call.js";
export { ApiError, retryAfterSeconds, type ErrorBody, type ErrorDetails } from "./errors.js";
export type { Operations } from "./operations.js";
export { collect, items, pages, type Lister, type Paged } from "./paging.js";
export { IDEMPOTENCY_KEY, REPLAYED, type RetryOptions } from "./retry.js";
export type { components, operations, paths } from "./schema.js";

/** Every schema of the API, by name: `Schemas["Alert"]`. */
export type Schemas = components["schemas"];
/** One schema of the API: `Schema<"Alert">`. */
export type Schema<Name extends keyof Schemas> = Schemas[Name];

/** The newest master cycles (one page). */
export async function fetchAICycles(
  api: AdpilotClient,
  query?: Query<"list_cycles">,
  options?: CallOptions,
): Promise<Schema<"Cycle">[]> {
  return (await api.listCycles(query, options)).items;
}

/** The newest decisions (one page). */
export async function fetchAIDecisions(
  api: AdpilotClient,
  query?: Query<"list_decisions">,
  options?: CallOptions,
): Promise<Schema<"Decision">[]> {
  return (await api.listDecisions(query, options)).items;
}

/** The newest performance scores of the models (one page). */
export async function fetchAIPerformanceScores(
  api: AdpilotClient,
  query?: Query<"list_performance">,
  options?: CallOptions,
): Promise<Schema<"PerformanceScore">[]> {
  return (await api.listPerformance(query, options)).items;
}

/** The newest alerts (one page); `{status: "active"}` for the open ones. */
export async function fetchAIAlerts(
  api: AdpilotClient,
  query?: Query<"list_alerts">,
  options?: CallOptions,
): Promise<Schema<"Alert">[]> {
  return (await api.listAlerts(query, options)).items;
}

/** The newest recommendations (one page); `{status: "pending"}` for those awaiting a person. */
export async function fetchAIRecommendations(
  api: AdpilotClient,
  query?: Query<"list_recommendations">,
  options?: CallOptions,
): Promise<Schema<"Recommendation">[]> {
  return (await api.listRecommendations(query, options)).items;
}

/** Every service's own view of its health. */
export async function fetchAISystemStatus(
  api: AdpilotClient,
  options?: CallOptions,
): Promise<Schema<"SystemStatus">> {
  return api.getSystemStatus(options);
}
