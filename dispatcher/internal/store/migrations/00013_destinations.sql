-- Destinations: a webhook's own TLS settings (a client certificate and key for mutual TLS, a
-- private CA), sealed like its credential (the key is a secret), with a plaintext hint for
-- responses (the certificate's subject and expiry).

-- +goose Up
ALTER TABLE webhooks ADD COLUMN tls_sealed bytea, ADD COLUMN tls_hint text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhooks DROP COLUMN tls_sealed, DROP COLUMN tls_hint;
