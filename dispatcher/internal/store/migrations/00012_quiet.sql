-- Quiet rules: silences and repeat limits (see docs/quiet-rules.md).

-- +goose Up
-- A silence: deliveries whose event matches `matcher` (CEL, as webhook filters) at the webhooks
-- named (all when webhook_ids is empty) are recorded as 'silenced' instead of attempted, from
-- starts_at (inclusive) to ends_at (exclusive). Ending one early sets ends_at and ended_by;
-- rows are kept (the audit trail and the delivery log name them).
CREATE TABLE silences (
    id          uuid PRIMARY KEY,
    matcher     text NOT NULL,
    webhook_ids uuid[] NOT NULL DEFAULT '{}',
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_by    text,
    ended_at    timestamptz,
    -- a silence ended before it started keeps its starts_at (ends_at is then earlier)
    CHECK (ends_at > starts_at OR ended_at IS NOT NULL)
);
CREATE INDEX silences_by_end ON silences (ends_at DESC);

-- Every change to silences bumps their generation; replicas compare it with their cache's
-- (read in the same round trip as the webhook generation, before each batch).
CREATE TABLE silence_generation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL
);
INSERT INTO silence_generation VALUES (true, 1);

-- +goose StatementBegin
CREATE FUNCTION bump_silence_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE silence_generation SET generation = generation + 1;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER silences_changed AFTER INSERT OR UPDATE OR DELETE ON silences
    FOR EACH STATEMENT EXECUTE FUNCTION bump_silence_generation();

-- Two more outcomes of a delivery, both final and never attempted.
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'silenced', 'suppressed'));
ALTER TABLE deliveries ADD COLUMN silence_id uuid;
-- For a delivery sent under a repeat limit: how many of its (type, key) were suppressed since
-- the previous one sent (0 otherwise).
ALTER TABLE deliveries ADD COLUMN suppressed_since_last integer NOT NULL DEFAULT 0;

ALTER TABLE webhook_stats ADD COLUMN deliveries_silenced integer NOT NULL DEFAULT 0;
ALTER TABLE webhook_stats ADD COLUMN deliveries_suppressed integer NOT NULL DEFAULT 0;

-- Webhook field repeat_limit: {"key": "<CEL giving a string>", "per": "<duration>"}.
ALTER TABLE webhooks ADD COLUMN repeat_limit jsonb;

-- One row per (webhook, event type, key value) under a repeat limit: when the last delivery
-- was let through and how many were suppressed since. Updated by one upsert in the transaction
-- that records the deliveries, so the limit holds across replicas.
-- No foreign key (as deliveries): deleting a webhook deletes its rows (store.DeleteWebhook).
CREATE TABLE repeat_limits (
    webhook_id uuid NOT NULL,
    event_type text NOT NULL,
    key        text NOT NULL,
    sent_at    timestamptz NOT NULL,
    per_s      double precision NOT NULL, -- the period in force (the webhook's repeat_limit.per)
    suppressed integer NOT NULL DEFAULT 0,
    -- the suppressed count handed to the delivery let through at sent_at
    handed     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, event_type, key)
);
CREATE INDEX repeat_limits_by_sent ON repeat_limits (sent_at);

-- +goose Down
DROP TABLE repeat_limits;
ALTER TABLE webhooks DROP COLUMN repeat_limit;
ALTER TABLE webhook_stats DROP COLUMN deliveries_suppressed;
ALTER TABLE webhook_stats DROP COLUMN deliveries_silenced;
ALTER TABLE deliveries DROP COLUMN suppressed_since_last;
ALTER TABLE deliveries DROP COLUMN silence_id;
DELETE FROM deliveries WHERE status IN ('silenced', 'suppressed');
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed'));
DROP TRIGGER silences_changed ON silences;
DROP FUNCTION bump_silence_generation();
DROP TABLE silence_generation;
DROP TABLE silences;
