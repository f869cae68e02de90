-- Alerts: acknowledgement, escalation and a backup channel (see internal/alert).
--
-- webhooks.escalation: the policy ({"acknowledge_within": seconds, "escalate_to": [ids],
-- "repeat": n}); NULL: deliveries open no alert. webhooks.fallback_id: where an event goes once
-- when it could not reach the webhook.
--
-- alerts: one row per (webhook, event) delivered through a webhook with a policy; the id is
-- derived from the pair, so a redelivered event opens nothing new. The acknowledge token is
-- random: only its SHA-256 (to find the alert) and a sealed copy (to put it in the messages of
-- every step) are kept. next_step_at is when the escalation scheduler looks at the alert again
-- (claimed with SKIP LOCKED); NULL once nothing more is to happen.
--
-- alert_steps: one row per escalation step taken (the timeline).
--
-- alert_marks: how the delivery engine renders a delivery that belongs to an alert (the
-- primary message, an escalation step) or is a fallback: one row per such delivery, read at
-- claim time. Escalation and fallback deliveries have derived ids too (alert, step, target;
-- the failed delivery), inserted ON CONFLICT DO NOTHING: each reaches its target once.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN escalation jsonb;
ALTER TABLE webhooks ADD COLUMN fallback_id uuid;

CREATE TABLE alerts (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    delivery_id      uuid NOT NULL,
    token_hash       bytea NOT NULL UNIQUE,
    token_sealed     bytea NOT NULL,
    token_expires_at timestamptz NOT NULL,
    policy           jsonb NOT NULL,
    state            text NOT NULL CHECK (state IN ('open', 'escalated', 'unacknowledged', 'acknowledged')),
    opened_at        timestamptz NOT NULL,
    acknowledge_by   timestamptz NOT NULL,
    step             integer NOT NULL DEFAULT 0,
    next_step_at     timestamptz,
    primary_failed   boolean NOT NULL DEFAULT false,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    acknowledged_via text
);
CREATE INDEX alerts_due ON alerts (next_step_at) WHERE next_step_at IS NOT NULL;
CREATE INDEX alerts_by_delivery ON alerts (delivery_id);
CREATE INDEX alerts_recent ON alerts (opened_at DESC, id DESC);
CREATE INDEX alerts_open ON alerts (state) WHERE state <> 'acknowledged';

CREATE TABLE alert_steps (
    alert_id    uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    step        integer NOT NULL,
    at          timestamptz NOT NULL,
    reason      text NOT NULL,
    webhook_ids uuid[] NOT NULL,
    PRIMARY KEY (alert_id, step)
);

CREATE TABLE alert_marks (
    delivery_id     uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('alert', 'escalation', 'fallback')),
    alert_id        uuid,
    step            integer NOT NULL DEFAULT 0,
    reason          text NOT NULL DEFAULT '',
    from_webhook_id uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Pruned with the deliveries they mark (TASKHOOK_RETENTION).
CREATE INDEX alert_marks_created ON alert_marks (created_at);

-- +goose Down
DROP TABLE alert_marks;
DROP TABLE alert_steps;
DROP TABLE alerts;
ALTER TABLE webhooks DROP COLUMN fallback_id;
ALTER TABLE webhooks DROP COLUMN escalation;
