-- Decision service: master AI cycles, the decisions they make, and what was learned.

CREATE TABLE master_ai_cycles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    cycle_name text NOT NULL,
    cycle_type text NOT NULL CHECK (cycle_type IN ('optimization', 'analysis', 'decision', 'automation')),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    priority integer DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
    trigger_event text,
    start_time timestamptz DEFAULT now(),
    end_time timestamptz,
    duration_seconds integer,
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX master_ai_cycles_page ON master_ai_cycles (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_decision_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    cycle_id uuid REFERENCES master_ai_cycles (id),
    decision_type text NOT NULL CHECK (decision_type IN ('budget_adjustment', 'campaign_pause', 'keyword_bid', 'audience_expansion')),
    context_data jsonb NOT NULL DEFAULT '{}',
    decision_rationale text,
    confidence_score numeric(5, 2) CHECK (confidence_score BETWEEN 0 AND 100),
    action_taken text,
    impact_prediction jsonb,
    actual_impact jsonb,
    validation_status text DEFAULT 'pending' CHECK (validation_status IN ('pending', 'validated', 'incorrect')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_decision_logs_page ON ai_decision_logs (tenant_id, created_at DESC, id DESC);
CREATE INDEX ai_decision_logs_cycle ON ai_decision_logs (cycle_id);

CREATE TABLE ai_performance_scores (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    metric_type text NOT NULL,
    score_value numeric(5, 2) NOT NULL,
    measurement_period text,
    context_filters jsonb DEFAULT '{}',
    benchmark_comparison numeric(5, 2),
    trend_direction text CHECK (trend_direction IN ('improving', 'declining', 'stable')),
    calculated_at timestamptz DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_performance_scores_page ON ai_performance_scores (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_learning_feedback (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    decision_id uuid REFERENCES ai_decision_logs (id),
    feedback_type text NOT NULL CHECK (feedback_type IN ('outcome_validation', 'user_correction', 'performance_impact')),
    feedback_value jsonb NOT NULL,
    learning_weight numeric(3, 2) DEFAULT 1.0,
    integration_status text DEFAULT 'pending' CHECK (integration_status IN ('pending', 'integrated', 'rejected')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_learning_feedback_page ON ai_learning_feedback (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_model_versions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    model_name text NOT NULL,
    version text NOT NULL,
    model_type text NOT NULL CHECK (model_type IN ('optimization', 'prediction', 'classification', 'recommendation')),
    training_data_period jsonb,
    performance_metrics jsonb,
    deployment_status text DEFAULT 'testing' CHECK (deployment_status IN ('development', 'testing', 'production', 'deprecated')),
    created_at timestamptz NOT NULL DEFAULT now(),
    deployed_at timestamptz,
    UNIQUE (tenant_id, model_name, version)
);
CREATE INDEX ai_model_versions_page ON ai_model_versions (tenant_id, created_at DESC, id DESC);

-- One row per step of a multi-step process (a master cycle: gather, analyse, decide, publish).
CREATE TABLE ai_workflow_states (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    workflow_type text NOT NULL,
    workflow_id uuid NOT NULL,
    step_name text NOT NULL,
    step_order integer NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
    input_data jsonb DEFAULT '{}',
    output_data jsonb DEFAULT '{}',
    error_message text,
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, step_name)
);
CREATE INDEX ai_workflow_states_page ON ai_workflow_states (tenant_id, created_at DESC, id DESC);
