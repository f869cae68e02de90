-- Admin API: delivery log filters, audit trail, health inputs.

-- +goose Up
-- The delivery log filtered by status, newest first (keyset pagination).
CREATE INDEX deliveries_by_webhook_status ON deliveries (webhook_id, status, created_at DESC, id DESC);
-- "Retries pending" for health, without scanning a webhook's deliveries.
CREATE INDEX deliveries_retrying ON deliveries (webhook_id) WHERE status = 'retrying';

-- Who changed what, and when. actor is a token's fingerprint, never a token; details never
-- hold a secret (masked before they get here).
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    webhook_id uuid,
    target_id  text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_webhook ON audit_log (webhook_id, id DESC);

-- +goose Down
DROP TABLE audit_log;
DROP INDEX deliveries_retrying;
DROP INDEX deliveries_by_webhook_status;
