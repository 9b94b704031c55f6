-- Optimizer service: recommendations, what was changed, rules, budgets, forecasts,
-- experiments, market context and the log of every call to an ad platform.

CREATE TABLE ai_recommendations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    recommendation_type text NOT NULL CHECK (recommendation_type IN ('budget_optimization', 'audience_targeting', 'creative_testing', 'bid_strategy', 'campaign_control')),
    target_entity_type text NOT NULL CHECK (target_entity_type IN ('campaign', 'ad_group', 'keyword')),
    target_entity_id uuid,
    current_state jsonb,
    recommended_changes jsonb NOT NULL,
    expected_impact jsonb,
    confidence_level numeric(3, 1) CHECK (confidence_level BETWEEN 0 AND 10),
    priority_score integer DEFAULT 5 CHECK (priority_score BETWEEN 1 AND 10),
    implementation_complexity text DEFAULT 'medium' CHECK (implementation_complexity IN ('low', 'medium', 'high')),
    status text DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'implemented', 'rejected')),
    -- The decision this recommendation carries out, when it came from one (one per decision).
    source_decision_id uuid UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    implemented_at timestamptz
);
CREATE INDEX ai_recommendations_page ON ai_recommendations (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_optimization_history (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    target_entity_type text NOT NULL,
    target_entity_id uuid,
    optimization_type text NOT NULL,
    before_state jsonb NOT NULL,
    after_state jsonb NOT NULL,
    expected_improvement jsonb,
    actual_improvement jsonb,
    success_metrics jsonb,
    rollback_data jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_optimization_history_page ON ai_optimization_history (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_automation_rules (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    rule_name text NOT NULL,
    rule_type text NOT NULL CHECK (rule_type IN ('budget_management', 'bid_optimization', 'campaign_control', 'audience_management')),
    trigger_conditions jsonb NOT NULL,
    action_parameters jsonb NOT NULL,
    safety_limits jsonb,
    is_active boolean DEFAULT true,
    execution_frequency text DEFAULT 'hourly' CHECK (execution_frequency IN ('continuous', 'hourly', 'daily')),
    last_execution_at timestamptz,
    execution_count integer DEFAULT 0,
    success_rate numeric(5, 2),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_automation_rules_page ON ai_automation_rules (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_budget_management (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    budget_pool_name text NOT NULL,
    total_budget numeric(12, 2) NOT NULL CHECK (total_budget >= 0),
    allocated_budget numeric(12, 2) DEFAULT 0,
    remaining_budget numeric(12, 2),
    allocation_strategy text CHECK (allocation_strategy IN ('performance_based', 'equal_distribution', 'opportunity_weighted')),
    reallocation_frequency text DEFAULT 'daily',
    performance_thresholds jsonb,
    last_reallocation_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_budget_management_page ON ai_budget_management (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_campaign_forecasts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    campaign_id uuid,
    forecast_type text NOT NULL CHECK (forecast_type IN ('performance', 'budget', 'roi', 'reach')),
    forecast_period_start date,
    forecast_period_end date,
    predicted_metrics jsonb NOT NULL,
    confidence_intervals jsonb,
    model_used text,
    actual_metrics jsonb,
    accuracy_score numeric(5, 2),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_campaign_forecasts_page ON ai_campaign_forecasts (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_testing_experiments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    experiment_name text NOT NULL,
    experiment_type text NOT NULL,
    hypothesis text,
    test_configuration jsonb NOT NULL,
    control_group_config jsonb,
    variant_configs jsonb NOT NULL,
    sample_size_calculation jsonb,
    statistical_significance_threshold numeric(3, 2) DEFAULT 0.95,
    status text DEFAULT 'planning' CHECK (status IN ('planning', 'running', 'analyzing', 'completed')),
    results jsonb,
    winner_variant text,
    confidence_level numeric(5, 2),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    ended_at timestamptz
);
CREATE INDEX ai_testing_experiments_page ON ai_testing_experiments (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_competitive_intelligence (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    competitor_identifier text,
    intelligence_type text NOT NULL,
    data_source text,
    intelligence_data jsonb NOT NULL,
    confidence_score numeric(3, 1),
    actionable_insights jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_competitive_intelligence_page ON ai_competitive_intelligence (tenant_id, created_at DESC, id DESC);

-- Industry reference figures a campaign's metrics are compared against.
CREATE TABLE ai_performance_benchmarks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    industry text NOT NULL,
    channel text NOT NULL,
    metric_name text NOT NULL,
    benchmark_value numeric(14, 4) NOT NULL,
    percentile_25 numeric(14, 4),
    percentile_75 numeric(14, 4),
    sample_size integer,
    data_source text,
    period_start date,
    period_end date,
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_performance_benchmarks_page ON ai_performance_benchmarks (tenant_id, created_at DESC, id DESC);

-- Every call to an external ad platform (or the simulator standing in for one).
CREATE TABLE ai_integration_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    integration_name text NOT NULL,
    operation text NOT NULL,
    direction text NOT NULL DEFAULT 'outbound' CHECK (direction IN ('outbound', 'inbound')),
    request_payload jsonb,
    response_payload jsonb,
    status text NOT NULL CHECK (status IN ('success', 'error')),
    error_message text,
    duration_ms integer,
    correlation_id uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_integration_logs_page ON ai_integration_logs (tenant_id, created_at DESC, id DESC);
