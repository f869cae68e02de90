-- The retry backlog gauges (every few seconds) answered from partial indexes: only deliveries
-- that are not final are in them, so they cost nothing on the happy path.

-- +goose Up
CREATE INDEX deliveries_open_created ON deliveries (created_at) WHERE due_at IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_open_created;
