-- campaign_metrics becomes a table partitioned by month of `hour`, in every schema that
-- keeps a copy (this folder is applied to each of them).
--
-- Why months: every window the services read is at most a few weeks wide (alert
-- detection 15 days, the decision cycle 8, curves 29, forecasts 21, rules up to 90), so
-- a query touches one or two month partitions, four at most; weekly partitions would
-- touch five for a curve and make four times as many tables (and plans over all of them
-- for the queries that name no time) for no smaller reads. A month of a large platform
-- (thousands of tenants, tens of campaigns each, an hour a row) is tens of millions of
-- rows: a size vacuum and index builds handle well. Retention drops whole months.
--
-- Keys are unchanged and still begin with tenant_id (the primary key already holds the
-- partition key, `hour`), so the table can later be distributed by tenant.
--
-- Partitions are created ahead by housekeeping (shared/housekeeping.py) through the
-- functions below: the services' roles own no tables, so the functions run as their
-- owner (the role that migrates). A row whose month has no partition yet lands in
-- campaign_metrics_default; the next upkeep moves it into its month's new partition.

-- Copying the rows must see every tenant's, whoever migrates (a table owner is subject
-- to the forced row-level security the runner puts on the table).
SELECT set_config('adpilot.scope', 'system', true);
-- Months begin at midnight UTC, whatever the migrating session's time zone.
SET LOCAL TimeZone = 'UTC';

ALTER TABLE campaign_metrics RENAME TO campaign_metrics_unpartitioned;
ALTER INDEX campaign_metrics_pkey RENAME TO campaign_metrics_unpartitioned_pkey;
ALTER INDEX campaign_metrics_recent RENAME TO campaign_metrics_unpartitioned_recent;

CREATE TABLE campaign_metrics (
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    hour timestamptz NOT NULL,
    impressions bigint NOT NULL,
    clicks bigint NOT NULL,
    conversions bigint NOT NULL,
    spend double precision NOT NULL,
    revenue double precision NOT NULL,
    budget double precision NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id, hour)
) PARTITION BY RANGE (hour);
-- The newest hours of a tenant: where "now" is, and which campaigns are live.
CREATE INDEX campaign_metrics_recent ON campaign_metrics (tenant_id, hour DESC);
CREATE TABLE campaign_metrics_default PARTITION OF campaign_metrics DEFAULT;

-- The partition of the month `in_month` falls in (UTC), made if missing; answers its name,
-- or NULL if it was there. Rows of that month the default partition holds move into it.
CREATE FUNCTION campaign_metrics_add_month(in_month timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    low timestamptz := date_trunc('month', in_month);
    high timestamptz := date_trunc('month', in_month) + interval '1 month';
    part text := 'campaign_metrics_' || to_char(date_trunc('month', in_month), '"y"YYYY"m"MM');
BEGIN
    -- Rows move between partitions: only in the platform's own (system) scope, the one
    -- the row-level security on them lets see every tenant's.
    IF current_setting('adpilot.scope', true) IS DISTINCT FROM 'system' THEN
        RAISE EXCEPTION 'campaign_metrics partitions are kept in the system scope'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Self-exclusive, yet no obstacle to reads and writes: one upkeep at a time.
    LOCK TABLE campaign_metrics IN SHARE UPDATE EXCLUSIVE MODE;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    -- Writes wait (reads go on) until the new partition is in: an insert routed by the
    -- partitions there were when it began could put a row of this month in the default
    -- partition, or be refused by it.
    LOCK TABLE campaign_metrics IN SHARE ROW EXCLUSIVE MODE;
    EXECUTE format('CREATE TABLE %I (LIKE campaign_metrics INCLUDING DEFAULTS)', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM campaign_metrics_default WHERE hour >= $1 AND hour < $2
                        RETURNING *)
         INSERT INTO %I SELECT * FROM moved', part)
        USING low, high;
    -- ATTACH, not CREATE ... PARTITION OF: reads go on meanwhile, and the partition's
    -- indexes are built after the rows are in.
    EXECUTE format('ALTER TABLE campaign_metrics ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, low, high);
    RETURN part;
END $$;

-- Partitions for the month of `present` and `months_ahead` months after it, and for every
-- month the default partition caught rows of; answers the names made.
CREATE FUNCTION campaign_metrics_prepare(months_ahead integer, present timestamptz DEFAULT now())
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET TimeZone = 'UTC'
AS $$
DECLARE
    month timestamptz;
    made text;
BEGIN
    FOR month IN
        SELECT m FROM generate_series(date_trunc('month', present),
                                      date_trunc('month', present) + make_interval(months => months_ahead),
                                      interval '1 month') AS m
        UNION
        SELECT DISTINCT date_trunc('month', hour) FROM campaign_metrics_default
        ORDER BY 1
    LOOP
        made := campaign_metrics_add_month(month);
        IF made IS NOT NULL THEN
            RETURN NEXT made;
        END IF;
    END LOOP;
END $$;

-- Drops the month partitions that end at or before `cutoff` (never the default one);
-- answers their names. A month the cutoff falls inside is kept whole.
CREATE FUNCTION campaign_metrics_drop_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD'
AS $$
DECLARE
    part record;
BEGIN
    IF current_setting('adpilot.scope', true) IS DISTINCT FROM 'system' THEN
        RAISE EXCEPTION 'campaign_metrics partitions are kept in the system scope'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- As in campaign_metrics_add_month: one upkeep at a time (another replica's waits).
    LOCK TABLE campaign_metrics IN SHARE UPDATE EXCLUSIVE MODE;
    FOR part IN
        SELECT c.relname AS name,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
                   AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'campaign_metrics'::regclass
          AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
        ORDER BY 2
    LOOP
        EXIT WHEN part.upper_bound > cutoff;
        -- Dropping a partition locks its parent for a moment, reads included: the parent
        -- first, as queries take their locks (the other order could deadlock with one).
        LOCK TABLE campaign_metrics IN ACCESS EXCLUSIVE MODE;
        EXECUTE format('DROP TABLE %I', part.name);
        RETURN NEXT part.name;
    END LOOP;
END $$;

-- The functions change tables as their owner: only the service's role may call them
-- (the runner grants it every function of its schema).
REVOKE ALL ON FUNCTION campaign_metrics_add_month(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION campaign_metrics_prepare(integer, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION campaign_metrics_drop_before(timestamptz) FROM PUBLIC;
-- Run as their owner, they must find this schema's tables and nothing planted elsewhere.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION campaign_metrics_add_month(timestamptz) SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION campaign_metrics_prepare(integer, timestamptz) SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION campaign_metrics_drop_before(timestamptz) SET search_path = %I, pg_temp',
                   current_schema());
END $$;

-- The months the rows cover, this one and three ahead (housekeeping keeps it so), then
-- the rows themselves.
SELECT campaign_metrics_add_month(month)
FROM (SELECT DISTINCT date_trunc('month', hour) AS month FROM campaign_metrics_unpartitioned
      UNION
      SELECT generate_series(date_trunc('month', now()),
                             date_trunc('month', now()) + interval '3 months',
                             interval '1 month')) AS months
ORDER BY month;
INSERT INTO campaign_metrics (tenant_id, campaign_id, hour, impressions, clicks, conversions,
                              spend, revenue, budget, recorded_at)
SELECT tenant_id, campaign_id, hour, impressions, clicks, conversions, spend, revenue, budget,
       recorded_at
FROM campaign_metrics_unpartitioned;
DROP TABLE campaign_metrics_unpartitioned;
ANALYZE campaign_metrics;
