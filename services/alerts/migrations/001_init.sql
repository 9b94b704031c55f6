-- Alerts service: smart alerts, risks and component health.

CREATE TABLE ai_smart_alerts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    alert_type text NOT NULL CHECK (alert_type IN ('performance_anomaly', 'budget_threshold', 'opportunity', 'risk')),
    severity text NOT NULL DEFAULT 'medium' CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    title text NOT NULL,
    description text,
    affected_entity_type text CHECK (affected_entity_type IN ('campaign', 'ad_group', 'keyword', 'audience')),
    affected_entity_id uuid,
    recommended_actions jsonb,
    auto_action_taken boolean DEFAULT false,
    status text DEFAULT 'active' CHECK (status IN ('active', 'acknowledged', 'resolved', 'dismissed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE INDEX ai_smart_alerts_page ON ai_smart_alerts (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_risk_management (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    risk_type text NOT NULL,
    risk_level text NOT NULL CHECK (risk_level IN ('low', 'medium', 'high', 'critical')),
    affected_entity_type text,
    affected_entity_id uuid,
    risk_indicators jsonb NOT NULL,
    probability_score numeric(3, 1) CHECK (probability_score BETWEEN 0 AND 10),
    impact_assessment jsonb,
    mitigation_actions jsonb,
    status text DEFAULT 'active' CHECK (status IN ('active', 'mitigated', 'resolved')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_risk_management_page ON ai_risk_management (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_system_health (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    component_name text NOT NULL,
    health_status text NOT NULL CHECK (health_status IN ('healthy', 'warning', 'critical', 'offline')),
    performance_metrics jsonb,
    error_logs jsonb,
    last_heartbeat timestamptz DEFAULT now(),
    uptime_percentage numeric(5, 2),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_system_health_page ON ai_system_health (tenant_id, created_at DESC, id DESC);
CREATE INDEX ai_system_health_component ON ai_system_health (tenant_id, component_name, created_at DESC);
