-- Budget pools that reallocate themselves on fitted response curves.

-- A pool names its campaigns; ``next_reallocation_at`` is on the platform's clock (the
-- hour after the newest metrics), so a pool runs at its frequency in simulated time too.
-- ``claimed_until`` is the lease of the replica running the pool's reallocation.
ALTER TABLE ai_budget_management
    ADD COLUMN campaign_ids uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN is_active boolean NOT NULL DEFAULT true,
    ADD COLUMN next_reallocation_at timestamptz,
    ADD COLUMN reallocation_count integer NOT NULL DEFAULT 0,
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT ai_budget_management_frequency
        CHECK (reallocation_frequency IN ('hourly', 'daily', 'weekly')),
    ADD CONSTRAINT ai_budget_management_campaigns
        CHECK (cardinality(campaign_ids) > 0 OR NOT is_active);
CREATE INDEX ai_budget_management_due
    ON ai_budget_management (next_reallocation_at) WHERE is_active;

-- One row per run of a pool: what it decided for each campaign and why.
CREATE TABLE budget_reallocations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    pool_id uuid NOT NULL REFERENCES ai_budget_management (id) ON DELETE CASCADE,
    trigger text NOT NULL CHECK (trigger IN ('scheduled', 'on_demand')),
    strategy text NOT NULL,
    autonomy text,
    status text NOT NULL DEFAULT 'running' CHECK (status IN (
        'running', 'applied', 'partial', 'recommended', 'observed', 'no_change', 'failed')),
    as_of timestamptz,
    total_budget double precision NOT NULL,
    allocated_budget double precision,
    unallocated double precision,
    campaigns jsonb NOT NULL DEFAULT '[]',
    predicted jsonb,
    error text,
    correlation_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX budget_reallocations_page
    ON budget_reallocations (tenant_id, pool_id, created_at DESC, id DESC);
-- Whichever replica started it, a pool has one reallocation running at a time.
CREATE UNIQUE INDEX budget_reallocations_running
    ON budget_reallocations (pool_id) WHERE status = 'running';

-- Every fit of a campaign's response curve, kept: a new one each time a complete day
-- lands (the newest ``window_end``), so one can see how the curve moved.
CREATE TABLE response_curves (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    metric text NOT NULL CHECK (metric IN ('conversions', 'revenue')),
    model text NOT NULL,
    params jsonb NOT NULL,
    covariance jsonb NOT NULL,
    supported boolean NOT NULL,
    reason text,
    n_days integer NOT NULL,
    window_start date,
    window_end date,
    r_squared double precision,
    rmse double precision,
    curve jsonb NOT NULL,
    points jsonb NOT NULL DEFAULT '[]',
    fitted_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX response_curves_window
    ON response_curves (tenant_id, campaign_id, metric, window_end) NULLS NOT DISTINCT;
CREATE INDEX response_curves_latest
    ON response_curves (tenant_id, campaign_id, metric, fitted_at DESC);

-- A reallocation is a new cause of changes.
ALTER TABLE ai_optimization_history DROP CONSTRAINT ai_optimization_history_cause_type_check;
ALTER TABLE ai_optimization_history
    ADD CONSTRAINT ai_optimization_history_cause_type_check
        CHECK (cause_type IN ('decision', 'rule', 'recommendation', 'rollback', 'reallocation'));
