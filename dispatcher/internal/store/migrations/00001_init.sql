-- Taskhook dispatcher schema. Secrets, URLs, event payloads and receivers' response excerpts are
-- stored sealed (AES-256-GCM, see internal/secretbox): a dump shows none of them in plaintext.

-- +goose Up
CREATE TABLE webhooks (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL,
    description           text NOT NULL DEFAULT '',
    url_sealed            bytea NOT NULL,
    url_hint              text NOT NULL,
    provider              text NOT NULL,
    events                text[] NOT NULL,
    filter                text NOT NULL DEFAULT '',
    active                boolean NOT NULL DEFAULT true,
    auth_type             text NOT NULL DEFAULT 'none',
    auth_sealed           bytea,
    auth_hint             text NOT NULL DEFAULT '',
    template              text NOT NULL DEFAULT '',
    rate_limit_per_second double precision,
    max_attempts          integer,
    timezone              text NOT NULL DEFAULT 'UTC',
    redact                boolean NOT NULL DEFAULT false,
    options               jsonb NOT NULL DEFAULT '{}',
    disabled_reason       text NOT NULL DEFAULT '',
    disabled_at           timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Every change to webhooks bumps the generation; each dispatcher replica compares it with the
-- generation of its cache before matching a batch, so a change is seen at once everywhere.
CREATE TABLE webhook_generation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL
);
INSERT INTO webhook_generation VALUES (true, 1);

-- +goose StatementBegin
CREATE FUNCTION bump_webhook_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_generation SET generation = generation + 1;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER webhooks_changed AFTER INSERT OR UPDATE OR DELETE ON webhooks
    FOR EACH STATEMENT EXECUTE FUNCTION bump_webhook_generation();

-- One row per event that matched at least one webhook; payload is the sealed event JSON.
CREATE TABLE events (
    id          text PRIMARY KEY,
    subject     text NOT NULL,
    payload     bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, webhook). The id is derived from the pair (UUIDv5), so it is the same on
-- every redelivery and doubles as the Standard Webhooks webhook-id.
CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    -- When the row may be claimed: its next attempt, or the end of a replica's lease on it.
    -- NULL once the delivery is final.
    due_at           timestamptz,
    lease_token      uuid,
    last_status_code integer,
    last_error       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, created_at DESC, id DESC);

-- No surrogate key: attempts are only ever read by delivery (one index, written per attempt).
CREATE TABLE attempts (
    delivery_id      uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    n                integer NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      integer NOT NULL,
    status_code      integer,
    error            text NOT NULL DEFAULT '',
    response_excerpt bytea
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id, n);

-- Maintained counters, so that health is read without scanning attempts.
CREATE TABLE webhook_health (
    webhook_id           uuid PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_delivery_at     timestamptz,
    last_success_at      timestamptz,
    failing_since        timestamptz
);

CREATE TABLE webhook_stats (
    webhook_id          uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    hour                timestamptz NOT NULL,
    attempts_succeeded  integer NOT NULL DEFAULT 0,
    attempts_failed     integer NOT NULL DEFAULT 0,
    deliveries_succeeded integer NOT NULL DEFAULT 0,
    deliveries_failed   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, hour)
);

-- +goose Down
DROP TABLE webhook_stats;
DROP TABLE webhook_health;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TRIGGER webhooks_changed ON webhooks;
DROP FUNCTION bump_webhook_generation();
DROP TABLE webhook_generation;
DROP TABLE webhooks;
