-- The Content-Type of a custom body template (application/json when empty).

-- +goose Up
ALTER TABLE webhooks ADD COLUMN template_content_type text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE webhooks DROP COLUMN template_content_type;
