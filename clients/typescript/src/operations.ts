/**
 * This file was generated from openapi.json by scripts/operations.mjs (`npm run generate`).
 * Do not make direct changes to the file.
 */

import type { Client } from "openapi-fetch";

import { call, type Body, type CallOptions, type Query } from "./call.js";
import type { paths } from "./schema.js";

/** One function per operation of the API, named after its `operationId`. */
export function operations(api: Client<paths>) {
  return {
    /**
     * Record hourly campaign metrics
     *
     * 1 to 5000 rows, each for the start of an hour. Accepted rows are published for the
     * services to take up; the answer does not wait for them. Send hours in order: an hour more
     * than six hours behind its campaign's newest stored hour is history (a backfill or a
     * correction) and raises no alert.
     *
     * `POST /api/ai/metrics`, role `operator`.
     */
    recordMetrics: (body: Body<"record_metrics">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/metrics", { ...init, body }),
      ),
    /**
     * Get the status of every service
     *
     * `GET /api/ai/system-status`, role `viewer`.
     */
    getSystemStatus: (options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/system-status", { ...init }),
      ),
    /**
     * Get who the credential is
     *
     * The tenant and role of the key or token the request carries, so a front end can offer
     * only what the role may do. Any valid credential may ask.
     *
     * `GET /api/ai/session`, role `viewer`.
     */
    getSession: (options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/session", { ...init }),
      ),
    /**
     * List audit trail entries
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/audit-trail`, role `admin`.
     */
    listAuditTrail: (query?: Query<"list_audit_trail">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/audit-trail", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one audit entry
     *
     * `GET /api/ai/audit-trail/{id}`, role `admin`.
     */
    getAuditEntry: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/audit-trail/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List API keys
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/keys`, role `admin`.
     */
    listKeys: (query?: Query<"list_keys">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/keys", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create an api key
     *
     * `POST /api/ai/keys`, role `admin`.
     */
    createApiKey: (body: Body<"create_api_key">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/keys", { ...init, body }),
      ),
    /**
     * Revoke an API key
     *
     * The key stops working at once. Revoking a revoked key changes nothing.
     *
     * `POST /api/ai/keys/{id}/revoke`, role `admin`.
     */
    revokeApiKey: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/keys/{id}/revoke", { ...init, params: { path: { id } } }),
      ),
    /**
     * Get the tenant's autonomy and safety limits
     *
     * `observe`: decide and log, change nothing. `recommend`: every action waits for a person
     * to approve it. `act`: apply what the safety limits allow, and recommend, for a person to
     * approve, what they forbid. A tenant that never set its preferences is at `recommend` with
     * the default limits.
     *
     * `GET /api/ai/preferences`, role `viewer`.
     */
    getPreferences: (options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/preferences", { ...init }),
      ),
    /**
     * Set the tenant's autonomy and safety limits
     *
     * `observe`: decide and log, change nothing. `recommend`: every action waits for a person
     * to approve it. `act`: apply what the safety limits allow, and recommend, for a person to
     * approve, what they forbid. Replaces both: `safety_limits` omitted or null leaves the
     * tenant with the defaults alone. `industry` omitted keeps the tenant's industry (what
     * benchmarks compare its campaigns with); null clears it. Limits that contradict themselves
     * or the defaults (a floor above a ceiling) are answered 422 naming the field. The
     * optimizer takes the change up shortly after the answer.
     *
     * `PUT /api/ai/preferences`, role `admin`.
     */
    setPreferences: (body: Body<"set_preferences">, options?: CallOptions) =>
      call(options, (init) =>
        api.PUT("/api/ai/preferences", { ...init, body }),
      ),
    /**
     * List cycles
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/cycles`, role `viewer`.
     */
    listCycles: (query?: Query<"list_cycles">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/cycles", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create a cycle
     *
     * Queued for the cycle runner; refused with 409 while too many already wait.
     *
     * `POST /api/ai/cycles`, role `operator`.
     */
    createCycle: (body: Body<"create_cycle">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/cycles", { ...init, body }),
      ),
    /**
     * Get one cycle
     *
     * `GET /api/ai/cycles/{id}`, role `viewer`.
     */
    getCycle: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/cycles/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List decisions
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/decisions`, role `viewer`.
     */
    listDecisions: (query?: Query<"list_decisions">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/decisions", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create a decision
     *
     * `POST /api/ai/decisions`, role `operator`.
     */
    createDecision: (body: Body<"create_decision">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/decisions", { ...init, body }),
      ),
    /**
     * Get one decision
     *
     * `GET /api/ai/decisions/{id}`, role `viewer`.
     */
    getDecision: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/decisions/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List performance scores
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/performance`, role `viewer`.
     */
    listPerformance: (query?: Query<"list_performance">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/performance", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one performance score
     *
     * `GET /api/ai/performance/{id}`, role `viewer`.
     */
    getPerformanceScore: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/performance/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List learning feedback
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/learning-feedback`, role `viewer`.
     */
    listLearningFeedback: (query?: Query<"list_learning_feedback">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/learning-feedback", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create a learning feedback
     *
     * `POST /api/ai/learning-feedback`, role `operator`.
     */
    createLearningFeedback: (body: Body<"create_learning_feedback">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/learning-feedback", { ...init, body }),
      ),
    /**
     * Get one learning feedback
     *
     * `GET /api/ai/learning-feedback/{id}`, role `viewer`.
     */
    getLearningFeedback: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/learning-feedback/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List model versions
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/model-versions`, role `viewer`.
     */
    listModelVersions: (query?: Query<"list_model_versions">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/model-versions", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one model version
     *
     * `GET /api/ai/model-versions/{id}`, role `viewer`.
     */
    getModelVersion: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/model-versions/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List workflow states
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/workflow-states`, role `viewer`.
     */
    listWorkflowStates: (query?: Query<"list_workflow_states">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/workflow-states", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one workflow state
     *
     * `GET /api/ai/workflow-states/{id}`, role `viewer`.
     */
    getWorkflowState: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/workflow-states/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List alerts
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/alerts`, role `viewer`.
     */
    listAlerts: (query?: Query<"list_alerts">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/alerts", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create an alert
     *
     * `POST /api/ai/alerts`, role `operator`.
     */
    createAlert: (body: Body<"create_alert">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/alerts", { ...init, body }),
      ),
    /**
     * Get one alert
     *
     * `GET /api/ai/alerts/{id}`, role `viewer`.
     */
    getAlert: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/alerts/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Acknowledge an alert
     *
     * Allowed while the alert is active; it becomes acknowledged. Any other status is answered
     * 409.
     *
     * `POST /api/ai/alerts/{id}/acknowledge`, role `operator`.
     */
    acknowledgeAlert: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/alerts/{id}/acknowledge", { ...init, params: { path: { id } } }),
      ),
    /**
     * Resolve an alert
     *
     * Allowed while the alert is acknowledged or active; it becomes resolved. Any other status
     * is answered 409.
     *
     * `POST /api/ai/alerts/{id}/resolve`, role `operator`.
     */
    resolveAlert: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/alerts/{id}/resolve", { ...init, params: { path: { id } } }),
      ),
    /**
     * Dismiss an alert
     *
     * Allowed while the alert is acknowledged or active; it becomes dismissed. Any other status
     * is answered 409.
     *
     * `POST /api/ai/alerts/{id}/dismiss`, role `operator`.
     */
    dismissAlert: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/alerts/{id}/dismiss", { ...init, params: { path: { id } } }),
      ),
    /**
     * List risks
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/risks`, role `viewer`.
     */
    listRisks: (query?: Query<"list_risks">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/risks", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one risk
     *
     * `GET /api/ai/risks/{id}`, role `viewer`.
     */
    getRisk: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/risks/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List the latest heartbeat of each component
     *
     * Always one page: `next_cursor` is null. A component whose heartbeats stopped is shown
     * `offline`, whatever it last reported.
     *
     * `GET /api/ai/system-health`, role `viewer`.
     */
    listSystemHealth: (query?: Query<"list_system_health">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/system-health", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one system health record
     *
     * `GET /api/ai/system-health/{id}`, role `viewer`.
     */
    getSystemHealthRecord: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/system-health/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List recommendations
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/recommendations`, role `viewer`.
     */
    listRecommendations: (query?: Query<"list_recommendations">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/recommendations", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create a recommendation
     *
     * A recommendation on a campaign whose `recommended_changes` name one change, `{"kind":
     * "budget" | "bid" | "audience", "to": number}` or `{"kind": "status", "to": "paused" |
     * "active"}`, is applied on the ad platform when approved.
     *
     * `POST /api/ai/recommendations`, role `operator`.
     */
    createRecommendation: (body: Body<"create_recommendation">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/recommendations", { ...init, body }),
      ),
    /**
     * Get one recommendation
     *
     * `GET /api/ai/recommendations/{id}`, role `viewer`.
     */
    getRecommendation: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/recommendations/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Approve a recommendation
     *
     * Allowed while the recommendation is pending. The change it names is applied on the ad
     * platform within the safety limits (a person's approval stands in for the confidence gate
     * and the cooldown); it ends `implemented`, or `failed` with `failure_reason`. Any other
     * status is answered 409.
     *
     * `POST /api/ai/recommendations/{id}/approve`, role `operator`.
     */
    approveRecommendation: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/recommendations/{id}/approve", { ...init, params: { path: { id } } }),
      ),
    /**
     * Reject a recommendation
     *
     * Allowed while the recommendation is approved or pending; it becomes rejected. Any other
     * status is answered 409.
     *
     * `POST /api/ai/recommendations/{id}/reject`, role `operator`.
     */
    rejectRecommendation: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/recommendations/{id}/reject", { ...init, params: { path: { id } } }),
      ),
    /**
     * List forecasts
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/forecasts`, role `viewer`.
     */
    listForecasts: (query?: Query<"list_forecasts">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/forecasts", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Forecast campaigns now
     *
     * Forecasts spend, conversions, revenue and ROAS of each campaign over the next 24 hours
     * and/or 7 days from the newest metrics, with 80% and 95% intervals, and answers them. At
     * most 20 campaigns a request (without `campaign_ids`, the first 20 by id; the rest are
     * listed in `skipped`, and the schedule covers them). A campaign with too little history is
     * listed in `skipped`; campaign ids with no metrics at all are answered 422, and a tenant
     * with no metrics yet 409. Forecasts are also made on a schedule, and scored once their
     * period has passed.
     *
     * `POST /api/ai/forecasts`, role `operator`.
     */
    createForecasts: (body: Body<"create_forecasts"> = {}, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/forecasts", { ...init, body }),
      ),
    /**
     * Get one forecast
     *
     * `GET /api/ai/forecasts/{id}`, role `viewer`.
     */
    getForecast: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/forecasts/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List automation rules
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/automation-rules`, role `viewer`.
     */
    listAutomationRules: (query?: Query<"list_automation_rules">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/automation-rules", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create an automation rule
     *
     * An invalid rule is answered 422; each error's `field` is its path in the body.
     *
     * `POST /api/ai/automation-rules`, role `admin`.
     */
    createAutomationRule: (body: Body<"create_automation_rule">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/automation-rules", { ...init, body }),
      ),
    /**
     * Get one automation rule
     *
     * `GET /api/ai/automation-rules/{id}`, role `viewer`.
     */
    getAutomationRule: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/automation-rules/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Delete an automation rule
     *
     * Answers the deleted rule. Changes it made stay in the optimization history.
     *
     * `DELETE /api/ai/automation-rules/{id}`, role `admin`.
     */
    deleteAutomationRule: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.DELETE("/api/ai/automation-rules/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Change an automation rule
     *
     * Fields not given are kept; the result is checked as a whole (422).
     *
     * `PATCH /api/ai/automation-rules/{id}`, role `admin`.
     */
    updateAutomationRule: (id: string, body: Body<"update_automation_rule">, options?: CallOptions) =>
      call(options, (init) =>
        api.PATCH("/api/ai/automation-rules/{id}", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * Show what an automation rule would do now
     *
     * Evaluates the rule on every campaign as of the newest metrics, without acting: per
     * campaign, whether it matched, each comparison's numbers, and for each action the change
     * the safety limits would allow and the clamps they would apply.
     *
     * `POST /api/ai/automation-rules/{id}/preview`, role `operator`.
     */
    previewAutomationRule: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/automation-rules/{id}/preview", { ...init, params: { path: { id } } }),
      ),
    /**
     * List optimizations (applied changes)
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/optimizations`, role `viewer`.
     */
    listOptimizations: (query?: Query<"list_optimizations">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/optimizations", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one optimization
     *
     * `GET /api/ai/optimizations/{id}`, role `viewer`.
     */
    getOptimization: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/optimizations/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Undo an applied change
     *
     * Restores the setting's value from before the change, on the ad platform; the undo is
     * itself an optimization (`rollback_of`), which can be rolled back in turn. If a later
     * change to the same setting still holds, or the platform holds a value the records do not
     * explain, the answer is 409 `rollback_conflict` naming it, unless `{"force": true}`. A
     * change that was never applied, or one being carried out, is 409. The platform refusing is
     * 502 with the failed optimization in `details`.
     *
     * `POST /api/ai/optimizations/{id}/rollback`, role `operator`.
     */
    rollbackOptimization: (id: string, body: Body<"rollback_optimization"> = {}, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/optimizations/{id}/rollback", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * List campaigns
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/campaigns`, role `viewer`.
     */
    listCampaigns: (query?: Query<"list_campaigns">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/campaigns", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one campaign
     *
     * `GET /api/ai/campaigns/{id}`, role `viewer`.
     */
    getCampaign: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/campaigns/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List integration logs
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/integration-logs`, role `viewer`.
     */
    listIntegrationLogs: (query?: Query<"list_integration_logs">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/integration-logs", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one integration log
     *
     * `GET /api/ai/integration-logs/{id}`, role `viewer`.
     */
    getIntegrationLog: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/integration-logs/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List experiments
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/experiments`, role `viewer`.
     */
    listExperiments: (query?: Query<"list_experiments">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/experiments", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create an experiment
     *
     * `sample_size_calculation` is filled from the minimum detectable effect, the baseline and
     * the daily traffic. Bad input is 422 with each error's `field`.
     *
     * `POST /api/ai/experiments`, role `admin`.
     */
    createExperiment: (body: Body<"create_experiment">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/experiments", { ...init, body }),
      ),
    /**
     * Get one experiment
     *
     * `GET /api/ai/experiments/{id}`, role `viewer`.
     */
    getExperiment: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/experiments/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Delete an experiment while it is planning
     *
     * Answers the deleted experiment; 409 unless planning.
     *
     * `DELETE /api/ai/experiments/{id}`, role `admin`.
     */
    deleteExperiment: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.DELETE("/api/ai/experiments/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Change an experiment while it is planning
     *
     * 409 unless planning; the sample size is worked out again.
     *
     * `PATCH /api/ai/experiments/{id}`, role `admin`.
     */
    updateExperiment: (id: string, body: Body<"update_experiment">, options?: CallOptions) =>
      call(options, (init) =>
        api.PATCH("/api/ai/experiments/{id}", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * Start an experiment
     *
     * Allowed while planning; it becomes running. A creative experiment on a campaign starts on
     * the ad platform too (its traffic is split across the variants' copies) and its results
     * are then pulled from the platform as hours finish; 502 if the platform cannot be reached,
     * 409 if it refuses.
     *
     * `POST /api/ai/experiments/{id}/start`, role `admin`.
     */
    startExperiment: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/experiments/{id}/start", { ...init, params: { path: { id } } }),
      ),
    /**
     * An experiment's results history
     *
     * Every submission, newest first, each with the analysis made of it.
     *
     * `GET /api/ai/experiments/{id}/results`, role `viewer`.
     */
    listExperimentResults: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/experiments/{id}/results", { ...init, params: { path: { id } } }),
      ),
    /**
     * Record an experiment's cumulative results
     *
     * Totals so far per variant, every variant once (names as the experiment's). Kept as one
     * row of the results history (`source: manual`), analysed at once. 409 unless running or
     * analyzing; 422 for unknown or missing variants, conversions above users, or fields of the
     * wrong metric.
     *
     * `POST /api/ai/experiments/{id}/results`, role `operator`.
     */
    recordExperimentResults: (id: string, body: Body<"record_experiment_results">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/experiments/{id}/results", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * Analyse an experiment's latest results
     *
     * One entry per variant (`lift`, `ci_low`, `ci_high`, `p_value`, `chance_to_win`,
     * `risk`...), `srm_p_value` and `winner_variant` (or null). Changes nothing. 409 while
     * planning or before any results.
     *
     * `POST /api/ai/experiments/{id}/analyze`, role `operator`.
     */
    analyzeExperiment: (id: string, body: Body<"analyze_experiment"> = {}, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/experiments/{id}/analyze", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * Conclude an experiment
     *
     * Allowed while running or analyzing; it becomes completed with `winner_variant`,
     * `confidence_level` and `results`, and `experiment.concluded` is published. With `"apply":
     * true` a campaign experiment's winner is applied on the ad platform as a `creative` change
     * (an optimization, which can be rolled back), by the tenant's autonomy: observe changes
     * nothing, recommend leaves a recommendation.
     *
     * `POST /api/ai/experiments/{id}/conclude`, role `admin`.
     */
    concludeExperiment: (id: string, body: Body<"conclude_experiment"> = {}, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/experiments/{id}/conclude", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * List budget pools
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/budgets`, role `viewer`.
     */
    listBudgets: (query?: Query<"list_budgets">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/budgets", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create a budget pool
     *
     * A pool is a total daily budget over `campaign_ids`. `performance_thresholds` bound each
     * campaign's share of the total (`min_share`, `max_share`) and its step per reallocation
     * (`max_step`, a share of its budget). Invalid pools are answered 422; each error's `field`
     * is its path in the body.
     *
     * `POST /api/ai/budgets`, role `admin`.
     */
    createBudgetPool: (body: Body<"create_budget_pool">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/budgets", { ...init, body }),
      ),
    /**
     * Get one budget pool
     *
     * `GET /api/ai/budgets/{id}`, role `viewer`.
     */
    getBudgetPool: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/budgets/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Delete a budget pool
     *
     * Answers the deleted pool; its reallocations go with it. The budget changes they made stay
     * in the optimization history and can still be rolled back.
     *
     * `DELETE /api/ai/budgets/{id}`, role `admin`.
     */
    deleteBudgetPool: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.DELETE("/api/ai/budgets/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Change a budget pool
     *
     * Fields not given are kept; the result is checked as a whole (422).
     *
     * `PATCH /api/ai/budgets/{id}`, role `admin`.
     */
    updateBudgetPool: (id: string, body: Body<"update_budget_pool">, options?: CallOptions) =>
      call(options, (init) =>
        api.PATCH("/api/ai/budgets/{id}", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * Reallocate a budget pool now
     *
     * Runs the pool's strategy now (an inactive pool too: `is_active` only stops its schedule)
     * and applies each campaign's new budget through the ad platform within the tenant's safety
     * limits and autonomy (`observe` records only; `recommend` asks a person). Operators may:
     * it moves budgets only within the pool and limits an admin set. 409 `reallocation_running`
     * while another reallocation of the pool runs.
     *
     * `POST /api/ai/budgets/{id}/reallocate`, role `operator`.
     */
    reallocateBudgetPool: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/budgets/{id}/reallocate", { ...init, params: { path: { id } } }),
      ),
    /**
     * List a budget pool's reallocations
     *
     * Each with its per-campaign explanation. Newest first. Pass `next_cursor` back as `cursor`
     * for the next page. Filters combine with AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/budgets/{id}/reallocations`, role `viewer`.
     */
    listBudgetReallocations: (id: string, query?: Query<"list_budget_reallocations">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/budgets/{id}/reallocations", { ...init, params: { path: { id }, query: query ?? {} } }),
      ),
    /**
     * Show what a reallocation would change
     *
     * Runs the pool's strategy on the campaigns' current budgets and newest curves and answers,
     * per campaign, `old_budget`, `new_budget`, the marginal ROAS at each and `bound_by`, and
     * for the pool the predicted conversions and revenue per day with 80% intervals. Applies
     * nothing. 409 `no_ad_account` when the tenant has no ad account; 503 while the ad platform
     * cannot be reached.
     *
     * `POST /api/ai/budgets/{id}/simulate`, role `operator`.
     */
    simulateBudgetPool: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/budgets/{id}/simulate", { ...init, params: { path: { id } } }),
      ),
    /**
     * Get a campaign's response curves
     *
     * The newest fits of conversions and revenue per day against spend per day, with the days
     * fitted on, the fit's quality, and whether the data supports a curve (`supported`,
     * `reason`).
     *
     * `GET /api/ai/campaigns/{id}/curve`, role `viewer`.
     */
    getCampaignCurve: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/campaigns/{id}/curve", { ...init, params: { path: { id } } }),
      ),
    /**
     * List Auction Insights rows
     *
     * One row per campaign, competitor, day and source: `intelligence_data` holds the six
     * Auction Insights figures as shares in [0, 1] (null where the report shows none),
     * `impression_share_below_10`, and `period` (`day`, `week` for a weekly report's row, which
     * stands on the week's first day, or `range` for a report not segmented by time, whose
     * `day` is null). Newest first. Pass `next_cursor` back as `cursor` for the next page.
     * Filters combine with AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/competitive-intelligence`, role `viewer`.
     */
    listCompetitiveIntelligence: (query?: Query<"list_competitive_intelligence">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/competitive-intelligence", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Import an Auction Insights report
     *
     * The body is the report as Google Ads or Microsoft Advertising download it: `text/csv`
     * (UTF-8, with or without a byte order mark, comma-separated; or the UTF-16 tab-separated
     * Excel variant), the same as the `file` field of a `multipart/form-data` form, or
     * Microsoft Advertising's `GetAuctionInsightData` answer as `application/json`. Rows are
     * keyed by campaign, competitor, day and source, so importing a report again updates its
     * rows instead of adding to them. All or nothing: a file with bad rows is answered 422
     * listing each one's `line` and `reason` (at most 50), and nothing is stored. Larger than 2
     * MiB: 413.
     *
     * `POST /api/ai/competitive-intelligence/imports`, role `operator`.
     */
    importCompetitiveIntelligence: (query?: Query<"import_competitive_intelligence">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/competitive-intelligence/imports", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * List competitor events
     *
     * Competitors entering, exiting, becoming aggressive or retreating. Newest first. Pass
     * `next_cursor` back as `cursor` for the next page. Filters combine with AND; an unknown
     * query parameter is answered 422.
     *
     * `GET /api/ai/competitive-intelligence/events`, role `viewer`.
     */
    listCompetitorEvents: (query?: Query<"list_competitor_events">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/competitive-intelligence/events", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Get one competitor event
     *
     * `GET /api/ai/competitive-intelligence/events/{id}`, role `viewer`.
     */
    getCompetitorEvent: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/competitive-intelligence/events/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Get one Auction Insights row
     *
     * `GET /api/ai/competitive-intelligence/{id}`, role `viewer`.
     */
    getCompetitiveIntelligenceRow: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/competitive-intelligence/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * List benchmarks
     *
     * The shipped published figures and the peer pools (every tenant sees them) and the
     * tenant's own rows: its published figures and its own history. Filter by `industry`,
     * `platform`, `metric` or `source_kind`. Newest first. Pass `next_cursor` back as `cursor`
     * for the next page. Filters combine with AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/benchmarks`, role `viewer`.
     */
    listBenchmarks: (query?: Query<"list_benchmarks">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/benchmarks", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create a benchmark
     *
     * A published figure of the tenant's own (`source_kind` `published`). Percentiles not given
     * stay null; at least one is needed, in order (422 naming the field).
     *
     * `POST /api/ai/benchmarks`, role `admin`.
     */
    createBenchmark: (body: Body<"create_benchmark">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/benchmarks", { ...init, body }),
      ),
    /**
     * Get one benchmark
     *
     * `GET /api/ai/benchmarks/{id}`, role `viewer`.
     */
    getBenchmark: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/benchmarks/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Delete a benchmark
     *
     * Answers the deleted benchmark. The shipped seed rows, the peer pools and own-history rows
     * are not the tenant's to change: 409 `read_only_benchmark`.
     *
     * `DELETE /api/ai/benchmarks/{id}`, role `admin`.
     */
    deleteBenchmark: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.DELETE("/api/ai/benchmarks/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Change a benchmark
     *
     * Fields not given are kept; null clears an optional one (a percentile the source does not
     * give). The percentiles are checked as a whole, at least one and in order (422 naming the
     * field). The shipped seed rows, the peer pools and own-history rows are not the tenant's
     * to change: 409 `read_only_benchmark`.
     *
     * `PATCH /api/ai/benchmarks/{id}`, role `admin`.
     */
    updateBenchmark: (id: string, body: Body<"update_benchmark">, options?: CallOptions) =>
      call(options, (init) =>
        api.PATCH("/api/ai/benchmarks/{id}", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * Get a campaign's tiers against the benchmarks
     *
     * The campaign's CTR, CPC, conversion rate and cost per conversion (`cpl`, `cpa`) over the
     * last 90 days of its metrics, and its tier per metric against each kind of benchmark:
     * `published` (the newest edition per platform and source, for the tenant's industry and
     * across all industries), `own_history` (the tenant's campaigns) and `peer_pool` (tenants
     * of its industry, where at least 10 contribute), each with its percentiles and provenance.
     * Tiers rank performance, so `90_plus` is always best: for `cpc`, `cpl` and `cpa`, where
     * lower is better, a value at or below the 10th percentile is `90_plus`. The standard bands
     * are `below_10`, `10_25`, `25_50`, `50_75`, `75_90` and `90_plus`. Where a benchmark gives
     * only some percentiles (a published average is usually only the median), the tier is the
     * narrowest band those decide, named the same way: `below_50` or `50_plus` against a median
     * alone. A value equal to a percentile counts as having reached it. 404 for a campaign the
     * tenant has no metrics or record of.
     *
     * `GET /api/ai/campaigns/{id}/benchmarks`, role `viewer`.
     */
    getCampaignBenchmarks: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/campaigns/{id}/benchmarks", { ...init, params: { path: { id } } }),
      ),
    /**
     * List ad platform connections
     *
     * Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine with
     * AND; an unknown query parameter is answered 422.
     *
     * `GET /api/ai/connections`, role `admin`.
     */
    listConnections: (query?: Query<"list_connections">, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/connections", { ...init, params: { query: query ?? {} } }),
      ),
    /**
     * Create a connection
     *
     * Links an ad account: `platform`, `account_id`, `time_zone`, `currency` and the platform's
     * `credentials` (Google Ads: `developer_token`, `client_id`, `client_secret`,
     * `refresh_token`, `login_customer_id`; Meta: a system user's `access_token`; sandbox:
     * none). A missing or unknown credential is 422 naming `credentials.<name>`. The account is
     * checked with one read through its connector; the answer's `status` says how that went.
     * Credentials are sealed at rest and never answered. 409 when the tenant already has a
     * connection.
     *
     * `POST /api/ai/connections`, role `admin`.
     */
    createConnection: (body: Body<"create_connection">, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/connections", { ...init, body }),
      ),
    /**
     * Get one connection
     *
     * `GET /api/ai/connections/{id}`, role `admin`.
     */
    getConnection: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.GET("/api/ai/connections/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Remove an ad platform connection
     *
     * The tenant goes back to the default connector; its credentials are erased.
     *
     * `DELETE /api/ai/connections/{id}`, role `admin`.
     */
    deleteConnection: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.DELETE("/api/ai/connections/{id}", { ...init, params: { path: { id } } }),
      ),
    /**
     * Change an ad platform connection
     *
     * Fields not given are kept; new credentials replace the old and are checked.
     *
     * `PATCH /api/ai/connections/{id}`, role `admin`.
     */
    updateConnection: (id: string, body: Body<"update_connection">, options?: CallOptions) =>
      call(options, (init) =>
        api.PATCH("/api/ai/connections/{id}", { ...init, params: { path: { id } }, body }),
      ),
    /**
     * Check an ad platform connection now
     *
     * One cheap read through the connector; answers the connection's new `status`.
     *
     * `POST /api/ai/connections/{id}/check`, role `admin`.
     */
    checkConnection: (id: string, options?: CallOptions) =>
      call(options, (init) =>
        api.POST("/api/ai/connections/{id}/check", { ...init, params: { path: { id } } }),
      ),
  };
}

/** The functions of `operations`, by name. */
export type Operations = ReturnType<typeof operations>;
