-- Experiments: what a plan needs (metric, split, minimum detectable effect, baseline,
-- traffic), the campaign an ad-copy experiment runs on, how it ended, and a history of
-- every results submission so each analysis can be made again and peeking is sequential.

ALTER TABLE ai_testing_experiments
    ALTER COLUMN status SET NOT NULL,
    -- A confidence such as 0.975 must survive storage: alpha is worked out from it.
    ALTER COLUMN statistical_significance_threshold TYPE double precision,
    ADD COLUMN campaign_id uuid,
    ADD COLUMN metric_kind text NOT NULL DEFAULT 'rate' CHECK (metric_kind IN ('rate', 'mean')),
    ADD COLUMN metric_name text NOT NULL DEFAULT 'conversion_rate',
    -- Planned share of users per variant, in the order of variant_configs.
    ADD COLUMN traffic_split jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN minimum_detectable_effect double precision,
    ADD COLUMN mde_kind text NOT NULL DEFAULT 'relative' CHECK (mde_kind IN ('relative', 'absolute')),
    ADD COLUMN baseline_value double precision,
    ADD COLUMN baseline_std double precision,
    ADD COLUMN power double precision NOT NULL DEFAULT 0.8,
    -- Users a day entering the experiment, all variants together.
    ADD COLUMN daily_traffic double precision,
    -- Started on the ad platform (a creative experiment on a campaign): results are pulled.
    ADD COLUMN on_platform boolean NOT NULL DEFAULT false,
    ADD COLUMN results_count integer NOT NULL DEFAULT 0,
    -- How it ended: by whom or by which rule, the analysis, and what applying did.
    ADD COLUMN conclusion jsonb,
    ADD COLUMN applied_optimization_id uuid REFERENCES ai_optimization_history (id),
    ADD COLUMN concluded_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX ai_testing_experiments_running
    ON ai_testing_experiments (tenant_id, status) WHERE on_platform AND status IN ('running', 'analyzing');
-- One experiment collecting on a campaign at a time (the platform splits one campaign's
-- traffic one way).
CREATE UNIQUE INDEX ai_testing_experiments_campaign
    ON ai_testing_experiments (tenant_id, campaign_id)
    WHERE campaign_id IS NOT NULL AND on_platform AND status IN ('running', 'analyzing');

-- Each submission holds the cumulative aggregates per variant; ``look`` numbers them.
-- Platform pulls are keyed by the platform's clock, so pulling an hour twice records once.
CREATE TABLE experiment_results (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    experiment_id uuid NOT NULL REFERENCES ai_testing_experiments (id) ON DELETE CASCADE,
    look integer NOT NULL,
    source text NOT NULL CHECK (source IN ('manual', 'platform')),
    variants jsonb NOT NULL,
    platform_as_of timestamptz,
    analysis jsonb,
    submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (experiment_id, look)
);
CREATE UNIQUE INDEX experiment_results_platform
    ON experiment_results (experiment_id, platform_as_of) WHERE source = 'platform';
CREATE INDEX experiment_results_page
    ON experiment_results (tenant_id, experiment_id, created_at DESC, id DESC);

-- Applying an experiment's winner is a change of the campaign's ad copy.
ALTER TABLE ai_optimization_history DROP CONSTRAINT ai_optimization_history_setting_check;
ALTER TABLE ai_optimization_history
    ADD CONSTRAINT ai_optimization_history_setting_check
        CHECK (setting IN ('budget', 'bid', 'status', 'audience', 'creative'));
ALTER TABLE ai_optimization_history DROP CONSTRAINT ai_optimization_history_cause_type_check;
ALTER TABLE ai_optimization_history
    ADD CONSTRAINT ai_optimization_history_cause_type_check
        CHECK (cause_type IN ('decision', 'rule', 'recommendation', 'rollback', 'reallocation', 'experiment'));
