-- Digests: a webhook with a digest collects its matching events here and sends one message per
-- window (see internal/digest). Items are sealed like events. A window row exists while a window
-- is open; the flusher claims closed ones (SKIP LOCKED) and, in the same transaction, turns
-- their items into digest deliveries: exactly one message per window across replicas.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN digest jsonb;

CREATE TABLE digest_windows (
    webhook_id uuid PRIMARY KEY,
    opened_at  timestamptz NOT NULL,
    closes_at  timestamptz NOT NULL
);
CREATE INDEX digest_windows_closing ON digest_windows (closes_at);

-- One row per (webhook, event): a redelivered event is not collected twice. digest_id is the
-- first delivery of the digest that carried it (NULL while waiting); the payload is dropped then
-- (the digest's own event holds it) and the row kept for deduplication until retention.
CREATE TABLE digest_items (
    webhook_id  uuid NOT NULL,
    event_id    text NOT NULL,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     bytea,
    digest_id   uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX digest_items_waiting ON digest_items (webhook_id, seq) WHERE digest_id IS NULL;

-- +goose Down
DROP TABLE digest_items;
DROP TABLE digest_windows;
ALTER TABLE webhooks DROP COLUMN digest;
