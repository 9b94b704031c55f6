-- Industry benchmarks with their provenance (services/optimizer/benchmarks/).
--
-- Three kinds of row, by source_kind:
--   published    figures from a public report (the shipped seed set, `shared`, in the
--                system tenant) or ones a tenant's admin entered (its own tenant)
--   own_history  percentiles across the tenant's own campaigns over 90 days (its tenant)
--   peer_pool    percentiles across the tenants of one industry, only where at least 10
--                contribute (`shared`, in the system tenant)
-- `shared` rows are read by every tenant and changed by no request.
--
-- Percentiles p10..p90 are NULL where the source does not give them: a published
-- "average" is usually only a median (p50). The seed columns stay filled from the new
-- ones by the trigger below: benchmark_value is the median, percentile_25/75 the
-- quartiles, channel the platform, metric_name the metric, data_source the source.
-- Ratios (ctr, cvr) are fractions (0.0642 for 6.42%); costs are in `currency`.

ALTER TABLE ai_performance_benchmarks
    ADD COLUMN source_kind text NOT NULL DEFAULT 'published'
        CHECK (source_kind IN ('published', 'own_history', 'peer_pool')),
    ADD COLUMN source text,
    ADD COLUMN url text,
    ADD COLUMN edition text,
    ADD COLUMN platform text,
    ADD COLUMN objective text,
    ADD COLUMN country text,
    ADD COLUMN currency text,
    ADD COLUMN metric text,
    ADD COLUMN p10 double precision,
    ADD COLUMN p25 double precision,
    ADD COLUMN p50 double precision,
    ADD COLUMN p75 double precision,
    ADD COLUMN p90 double precision,
    ADD COLUMN shared boolean NOT NULL DEFAULT false,
    -- The seed file's key of a shipped row: loading the file again updates it in place.
    ADD COLUMN seed_key text,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Rows written before this migration (none are expected) keep what they said.
UPDATE ai_performance_benchmarks
   SET platform = channel, metric = metric_name, source = data_source,
       p50 = benchmark_value, p25 = percentile_25, p75 = percentile_75;

ALTER TABLE ai_performance_benchmarks
    ALTER COLUMN platform SET NOT NULL,
    ALTER COLUMN metric SET NOT NULL,
    -- A source giving quartiles but no median has no benchmark_value.
    ALTER COLUMN benchmark_value DROP NOT NULL,
    ADD CONSTRAINT ai_performance_benchmarks_some_percentile
        CHECK (num_nonnulls(p10, p25, p50, p75, p90) > 0),
    ADD CONSTRAINT ai_performance_benchmarks_ordered
        CHECK (p10 <= coalesce(p25, p50, p75, p90, p10)
               AND p25 <= coalesce(p50, p75, p90, p25)
               AND p50 <= coalesce(p75, p90, p50)
               AND p75 <= coalesce(p90, p75));

CREATE UNIQUE INDEX ai_performance_benchmarks_seed
    ON ai_performance_benchmarks (tenant_id, seed_key) WHERE seed_key IS NOT NULL;
CREATE INDEX ai_performance_benchmarks_lookup
    ON ai_performance_benchmarks (tenant_id, source_kind, industry, metric);

CREATE FUNCTION ai_performance_benchmarks_seed_columns() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.channel := NEW.platform;
    NEW.metric_name := NEW.metric;
    NEW.data_source := NEW.source;
    NEW.benchmark_value := NEW.p50;
    NEW.percentile_25 := NEW.p25;
    NEW.percentile_75 := NEW.p75;
    RETURN NEW;
END $$;

CREATE TRIGGER ai_performance_benchmarks_seed_columns
    BEFORE INSERT OR UPDATE ON ai_performance_benchmarks
    FOR EACH ROW EXECUTE FUNCTION ai_performance_benchmarks_seed_columns();

-- The tenant's industry, copied from preferences.updated like its autonomy: what its
-- campaigns are compared with, and the peer pool it contributes to.
ALTER TABLE optimizer_tenant_settings ADD COLUMN industry text;
