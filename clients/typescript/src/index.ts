/**
 * A typed client for the adpilot HTTP API (`/api/ai`).
 *
 * Every POST, PUT and PATCH carries an `Idempotency-Key` (a fresh `crypto.randomUUID()`
 * unless the caller passes one), and the client's own retries of that call reuse it: a
 * retry after a cut connection, a timeout or a 503 is answered by the gateway from its
 * store (`Idempotent-Replayed: true`) instead of acting a second time.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export type Uuid = string;
/** An ISO 8601 instant with its time zone, e.g. `2024-05-01T12:00:00+00:00`. */
export type Instant = string;

export type DecisionType =
  | "budget_adjustment"
  | "campaign_pause"
  | "keyword_bid"
  | "audience_expansion";
export type AlertType = "performance_anomaly" | "budget_threshold" | "opportunity" | "risk";
export type Severity = "low" | "medium" | "high" | "critical";
export type EntityType = "campaign" | "ad_group" | "keyword" | "audience";
export type Autonomy = "observe" | "recommend" | "act";

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Paging and filters of a list route; filters are the resource's columns. */
export interface ListQuery {
  limit?: number;
  cursor?: string;
  since?: Instant;
  until?: Instant;
  [filter: string]: string | number | boolean | undefined;
}

export interface DecisionCreate {
  decision_type: DecisionType;
  cycle_id?: Uuid | null;
  context_data?: JsonObject;
  decision_rationale?: string | null;
  confidence_score?: number | null;
  action_taken?: string | null;
  impact_prediction?: JsonObject | null;
}

export interface Decision {
  id: Uuid;
  cycle_id: Uuid | null;
  decision_type: DecisionType;
  context_data: Json;
  decision_rationale: string | null;
  confidence_score: number | null;
  action_taken: string | null;
  impact_prediction: Json | null;
  actual_impact: Json | null;
  validation_status: string | null;
  created_at: Instant;
  outcome?: Json | null;
  outcome_at?: Instant | null;
}

export interface RecommendationCreate {
  recommendation_type: string;
  target_entity_type: string;
  target_entity_id?: string | null;
  current_state?: JsonObject | null;
  recommended_changes: JsonObject;
  expected_impact?: JsonObject | null;
  confidence_level?: number | null;
  priority_score?: number;
  implementation_complexity?: string;
}

export interface Recommendation {
  id: Uuid;
  recommendation_type: string;
  target_entity_type: string;
  target_entity_id: string | null;
  current_state: Json | null;
  recommended_changes: Json;
  expected_impact: Json | null;
  confidence_level: number | null;
  priority_score: number | null;
  implementation_complexity: string | null;
  status: string | null;
  source_decision_id: Uuid | null;
  created_at: Instant;
  updated_at: Instant;
  decided_at: Instant | null;
  implemented_at: Instant | null;
  optimization_id?: Uuid | null;
  failure_reason?: string | null;
}

export interface AlertCreate {
  alert_type: AlertType;
  title: string;
  severity?: Severity;
  description?: string | null;
  affected_entity_type?: EntityType | null;
  affected_entity_id?: string | null;
  recommended_actions?: Json[] | JsonObject | null;
}

export interface Alert {
  id: Uuid;
  alert_type: AlertType;
  severity: Severity;
  title: string;
  description: string | null;
  affected_entity_type: EntityType | null;
  affected_entity_id: string | null;
  recommended_actions: Json | null;
  auto_action_taken: boolean | null;
  status: string | null;
  alert_key: string | null;
  occurrences: number;
  evidence: Json | null;
  first_seen_hour: Instant | null;
  last_seen_hour: Instant | null;
  created_at: Instant;
  updated_at: Instant;
  acknowledged_at: Instant | null;
  resolved_at: Instant | null;
}

export interface OptimizationRecord {
  id: Uuid;
  target_entity_type: string;
  target_entity_id: string | null;
  optimization_type: string;
  status: string;
  setting: string | null;
  value_before: Json | null;
  value_after: Json | null;
  before_state: Json;
  after_state: Json;
  change_id: string;
  connector: string | null;
  cause_type: string | null;
  cause_id: string | null;
  decision_id: Uuid | null;
  rule_id: Uuid | null;
  recommendation_id: Uuid | null;
  rollback_of: Uuid | null;
  rolled_back_by: Uuid | null;
  failure_code: string | null;
  failure_reason: string | null;
  applied_at: Instant | null;
  created_at: Instant;
  updated_at: Instant;
  [more: string]: Json | undefined;
}

export interface RollbackRequest {
  /** Roll back even if a later change or an outside edit touched the same setting. */
  force?: boolean;
}

export interface RuleCreate {
  rule_name: string;
  rule_type: string;
  trigger_conditions: JsonObject;
  action_parameters: Json;
  safety_limits?: JsonObject | null;
  is_active?: boolean;
  execution_frequency?: string;
}

export type RuleUpdate = { [K in keyof RuleCreate]?: RuleCreate[K] | null };

export interface AutomationRule {
  id: Uuid;
  rule_name: string;
  rule_type: string;
  trigger_conditions: Json;
  action_parameters: Json;
  safety_limits: Json | null;
  is_active: boolean | null;
  execution_frequency: string | null;
  last_execution_at: Instant | null;
  execution_count: number | null;
  success_rate: number | null;
  created_at: Instant;
  updated_at: Instant;
  evaluated_for: Instant | null;
}

export interface RulePreview {
  [field: string]: Json;
}

export interface AmountLimits {
  floor?: number | null;
  ceiling?: number | null;
  max_step_share?: number | null;
  max_daily_share?: number | null;
}

export interface SafetyLimits {
  budget?: AmountLimits;
  bid?: AmountLimits;
  audience?: AmountLimits;
  cooldown_hours?: number;
  min_confidence?: number;
}

export interface PreferencesUpdate {
  autonomy: Autonomy;
  safety_limits?: SafetyLimits | null;
}

export interface Preferences {
  autonomy: Autonomy;
  safety_limits: SafetyLimits | null;
  effective_limits: SafetyLimits;
  updated_at: Instant | null;
}

export interface MetricRow {
  campaign_id: Uuid;
  /** The start of the hour, UTC. */
  hour: Instant;
  impressions: number;
  clicks: number;
  conversions: number;
  spend: number;
  revenue: number;
  /** The campaign's daily budget in force during that hour. */
  budget: number;
}

export interface MetricsBatch {
  metrics: MetricRow[];
}

export interface MetricsAccepted {
  accepted: number;
  campaign_hours: number;
}

export interface SystemStatus {
  status: string;
  services: { [service: string]: JsonObject };
}

/** The body of every error the API answers. */
export interface ErrorBody {
  error: { code: string; message: string; details: Json };
}

export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Json,
    readonly requestId: string | null,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

export interface ClientOptions {
  /** The gateway, e.g. `http://localhost:8000`; `/api/ai/...` is appended. */
  baseUrl: string;
  /** An API key or a JWT, sent as `Authorization: Bearer <token>`. */
  token: string;
  /** Attempts per call, the first included (default 4). */
  maxAttempts?: number;
  /** The first pause between attempts when the server names none; doubles each time. */
  retryDelayMs?: number;
  /** No pause is longer than this, whatever `Retry-After` says (default 30 s). */
  maxRetryDelayMs?: number;
  /** Each attempt is given up after this long (default 30 s), then retried. */
  timeoutMs?: number;
  /** Where idempotency keys come from (default `crypto.randomUUID`). */
  newIdempotencyKey?: () => string;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export interface CallOptions {
  /** The key for this change; by default a new one per call, kept across its retries.
   * Pass your own to make a call safe to repeat across restarts of your program. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  status: number;
  data: T;
  headers: Headers;
  /** True when the gateway answered from its store: the change was made once, earlier. */
  replayed: boolean;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
type Query = Record<string, string | number | boolean | undefined>;

const CHANGES: ReadonlySet<Method> = new Set(["POST", "PUT", "PATCH"]);
const IDEMPOTENCY_KEY = "Idempotency-Key";
const REPLAYED = "Idempotent-Replayed";

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), if any. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function isNetworkError(error: unknown): boolean {
  // fetch rejects with a TypeError when the connection fails or is cut, and with a
  // TimeoutError when our per-attempt timeout fires.
  return (
    error instanceof TypeError ||
    (error instanceof DOMException && error.name === "TimeoutError")
  );
}

export class AdpilotClient {
  readonly decisions;
  readonly recommendations;
  readonly alerts;
  readonly optimizations;
  readonly automationRules;
  readonly preferences;
  readonly metrics;

  private readonly baseUrl: string;
  private readonly token: string;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly newKey: () => string;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.newKey = options.newIdempotencyKey ?? (() => globalThis.crypto.randomUUID());
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));

    const get = <T>(path: string, query?: Query) => this.data<T>("GET", path, { query });
    const change = <T>(method: Method, path: string, body?: unknown, call?: CallOptions) =>
      this.data<T>(method, path, { body, call });

    this.decisions = {
      list: (query?: ListQuery) => get<Page<Decision>>("/decisions", query),
      get: (id: Uuid) => get<Decision>(`/decisions/${enc(id)}`),
      create: (body: DecisionCreate, call?: CallOptions) =>
        change<Decision>("POST", "/decisions", body, call),
    };
    this.recommendations = {
      list: (query?: ListQuery) => get<Page<Recommendation>>("/recommendations", query),
      get: (id: Uuid) => get<Recommendation>(`/recommendations/${enc(id)}`),
      create: (body: RecommendationCreate, call?: CallOptions) =>
        change<Recommendation>("POST", "/recommendations", body, call),
      approve: (id: Uuid, call?: CallOptions) =>
        change<Recommendation>("POST", `/recommendations/${enc(id)}/approve`, undefined, call),
      reject: (id: Uuid, call?: CallOptions) =>
        change<Recommendation>("POST", `/recommendations/${enc(id)}/reject`, undefined, call),
    };
    this.alerts = {
      list: (query?: ListQuery) => get<Page<Alert>>("/alerts", query),
      get: (id: Uuid) => get<Alert>(`/alerts/${enc(id)}`),
      create: (body: AlertCreate, call?: CallOptions) =>
        change<Alert>("POST", "/alerts", body, call),
      acknowledge: (id: Uuid, call?: CallOptions) =>
        change<Alert>("POST", `/alerts/${enc(id)}/acknowledge`, undefined, call),
      resolve: (id: Uuid, call?: CallOptions) =>
        change<Alert>("POST", `/alerts/${enc(id)}/resolve`, undefined, call),
      dismiss: (id: Uuid, call?: CallOptions) =>
        change<Alert>("POST", `/alerts/${enc(id)}/dismiss`, undefined, call),
    };
    this.optimizations = {
      list: (query?: ListQuery) => get<Page<OptimizationRecord>>("/optimizations", query),
      get: (id: Uuid) => get<OptimizationRecord>(`/optimizations/${enc(id)}`),
      rollback: (id: Uuid, body: RollbackRequest = {}, call?: CallOptions) =>
        change<OptimizationRecord>("POST", `/optimizations/${enc(id)}/rollback`, body, call),
    };
    this.automationRules = {
      list: (query?: ListQuery) => get<Page<AutomationRule>>("/automation-rules", query),
      get: (id: Uuid) => get<AutomationRule>(`/automation-rules/${enc(id)}`),
      create: (body: RuleCreate, call?: CallOptions) =>
        change<AutomationRule>("POST", "/automation-rules", body, call),
      update: (id: Uuid, body: RuleUpdate, call?: CallOptions) =>
        change<AutomationRule>("PATCH", `/automation-rules/${enc(id)}`, body, call),
      delete: (id: Uuid) => change<AutomationRule>("DELETE", `/automation-rules/${enc(id)}`),
      preview: (id: Uuid, call?: CallOptions) =>
        change<RulePreview>("POST", `/automation-rules/${enc(id)}/preview`, undefined, call),
    };
    this.preferences = {
      get: () => get<Preferences>("/preferences"),
      set: (body: PreferencesUpdate, call?: CallOptions) =>
        change<Preferences>("PUT", "/preferences", body, call),
    };
    this.metrics = {
      record: (batch: MetricsBatch, call?: CallOptions) =>
        change<MetricsAccepted>("POST", "/metrics", batch, call),
    };
  }

  systemStatus(): Promise<SystemStatus> {
    return this.data<SystemStatus>("GET", "/system-status", {});
  }

  private async data<T>(
    method: Method,
    path: string,
    options: { body?: unknown; query?: Query | undefined; call?: CallOptions | undefined },
  ): Promise<T> {
    return (await this.send<T>(method, path, options)).data;
  }

  /**
   * One call of `method` on `/api/ai{path}`, retried on network errors, on 503, and while
   * the gateway is still answering an earlier attempt (409 `idempotency_in_progress`),
   * honoring `Retry-After`. A change keeps one `Idempotency-Key` across all its attempts.
   */
  async send<T>(
    method: Method,
    path: string,
    options: { body?: unknown; query?: Query | undefined; call?: CallOptions | undefined } = {},
  ): Promise<ApiResponse<T>> {
    const url = new URL(`${this.baseUrl}/api/ai${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = {
      Accept: "application/json",
      Authorization: `Bearer ${this.token}`,
    };
    if (CHANGES.has(method)) {
      headers[IDEMPOTENCY_KEY] = options.call?.idempotencyKey ?? this.newKey();
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["Content-Type"] = "application/json";
    }

    let pause = this.retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.maxAttempts;
      const signals = [AbortSignal.timeout(this.timeoutMs)];
      if (options.call?.signal) signals.push(options.call.signal);
      let response: Response;
      try {
        response = await this.fetchImpl(url, {
          method,
          headers,
          body: body ?? null,
          signal: AbortSignal.any(signals),
        });
      } catch (error) {
        if (last || options.call?.signal?.aborted || !isNetworkError(error)) throw error;
        await this.sleep(Math.min(pause, this.maxRetryDelayMs));
        pause *= 2;
        continue;
      }
      const text = await response.text();
      const data: unknown = text === "" ? null : parse(text);
      if (response.ok) {
        return {
          status: response.status,
          data: data as T,
          headers: response.headers,
          replayed: response.headers.get(REPLAYED) === "true",
        };
      }
      const error = toApiError(response, data, text);
      const retryable =
        response.status === 503 ||
        (response.status === 409 && error.code === "idempotency_in_progress");
      if (!retryable || last) throw error;
      const asked = retryAfterMs(response.headers.get("Retry-After"));
      await this.sleep(Math.min(asked ?? pause, this.maxRetryDelayMs));
      pause *= 2;
    }
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toApiError(response: Response, data: unknown, text: string): ApiError {
  const requestId = response.headers.get("X-Request-Id");
  const error = (data as Partial<ErrorBody> | null)?.error;
  if (error && typeof error.code === "string") {
    return new ApiError(response.status, error.code, error.message, error.details, requestId);
  }
  return new ApiError(response.status, "http_error", text.slice(0, 200), {}, requestId);
}
