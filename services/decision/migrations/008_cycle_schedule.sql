-- The scheduled cycles: one row per tenant and period of ADPILOT_CYCLE_INTERVAL_SECONDS
-- (periods start at multiples of it on the database's clock). Every replica of the
-- service wakes at each period's start; the first to insert the row queues the cycle, in
-- the same transaction, and the others find the row there: a period is scheduled once
-- however many replicas run. cycle_id is the cycle that does the period's work (the
-- pending cycle it joined, or the one queued again when its run was cut short).
CREATE TABLE cycle_schedule (
    tenant_id uuid NOT NULL,
    period_start timestamptz NOT NULL,
    -- Set in the transaction that inserts the row, once its cycle is queued.
    cycle_id uuid REFERENCES master_ai_cycles (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period_start)
);
CREATE INDEX cycle_schedule_cycle ON cycle_schedule (cycle_id);
