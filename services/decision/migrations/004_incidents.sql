-- An alert is an incident: its kind is the primary cause, and it also stands for the
-- kinds of its symptoms (the other metrics the same cause moved).

ALTER TABLE alert_view ADD COLUMN symptoms text[] NOT NULL DEFAULT '{}';
