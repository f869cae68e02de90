-- Operational events (webhook.disabled, webhook.health_changed, delivery.exhausted,
-- delivery.recovered), coalesced here before they are published.
--
-- ops_signals: one row per (webhook, type) with something to report. The first signal opens
-- the window (window_start); later ones add to count and replace the latest details. Rows are
-- only written while another active webhook names the type (or its family): nobody to tell,
-- nothing kept.
--
-- ops_outbox: the events of ended windows, waiting for JetStream. A flusher on every replica
-- moves the rows whose window (window_start + TASKHOOK_OPS_INTERVAL) ended from ops_signals into
-- ops_outbox in one short transaction (SKIP LOCKED), then claims outbox rows (SKIP LOCKED),
-- publishes them (Nats-Msg-Id = event_id, derived from webhook, type and window start) and
-- deletes them in the claiming transaction. The delivery path, which writes ops_signals, never
-- waits for a publish.
--
-- ops_observed: per webhook, the health state (as GET /v1/webhooks computes it), failure
-- streak and last success the observer saw last; a replica records a transition only when its
-- compare-and-set UPDATE of this row succeeds, so that one replica reports each change.

-- +goose Up
CREATE TABLE ops_signals (
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    type             text NOT NULL,
    count            integer NOT NULL DEFAULT 1,
    window_start     timestamptz NOT NULL DEFAULT now(),
    last_at          timestamptz NOT NULL DEFAULT now(),
    reason           text NOT NULL DEFAULT '',
    health           text NOT NULL DEFAULT '',
    previous_health  text NOT NULL DEFAULT '',
    last_status_code integer,
    last_error       text NOT NULL DEFAULT '',
    delivery_id      uuid,
    attempts         integer,
    PRIMARY KEY (webhook_id, type)
);
CREATE INDEX ops_signals_window ON ops_signals (window_start);

CREATE TABLE ops_outbox (
    event_id   text PRIMARY KEY,
    subject    text NOT NULL,
    body       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ops_observed (
    webhook_id           uuid PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    health               text NOT NULL,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_success_at      timestamptz,
    observed_at          timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE ops_observed;
DROP TABLE ops_outbox;
DROP TABLE ops_signals;
