-- Destinations: a webhook's own TLS settings (a client certificate and key for mutual TLS, a
-- private CA), sealed like its credential (the key is a secret), with a plaintext hint for
-- responses (the certificate's subject and expiry); ordered delivery per subject.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN tls_sealed bytea, ADD COLUMN tls_hint text NOT NULL DEFAULT '';

-- ordering: '' is the provider's default, else 'none' or 'subject'.
ALTER TABLE webhooks ADD COLUMN ordering text NOT NULL DEFAULT '';

-- A delivery of a webhook with ordering "subject" carries what its event is about (order_key,
-- e.g. task:12345) and the event's stream sequence: the claim takes it only when no earlier
-- delivery of the same webhook and key is unfinished (due_at set).
ALTER TABLE deliveries ADD COLUMN order_key text, ADD COLUMN stream_seq bigint;
CREATE INDEX deliveries_ordered ON deliveries (webhook_id, order_key, stream_seq) WHERE order_key IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_ordered;
ALTER TABLE deliveries DROP COLUMN order_key, DROP COLUMN stream_seq;
ALTER TABLE webhooks DROP COLUMN tls_sealed, DROP COLUMN tls_hint, DROP COLUMN ordering;
