-- The optimizer's copy of each tenant's autonomy and own safety limits, kept from the
-- gateway's preferences.updated events (the gateway owns the settings; the optimizer
-- never reads its tables). A row is only replaced by an event with a later updated_at,
-- so a late, older event cannot roll a setting back. No row: 'recommend' and the
-- default limits. Row-level security comes with the tenant_id column (secure_schema).
CREATE TABLE optimizer_tenant_settings (
    tenant_id uuid PRIMARY KEY,
    autonomy text NOT NULL CHECK (autonomy IN ('observe', 'recommend', 'act')),
    safety_limits jsonb,
    updated_at timestamptz NOT NULL
);
