-- Tracing (OpenTelemetry): the trace context an event was consumed in (W3C traceparent), so that
-- retries continue its trace; the trace id of every attempt, for the delivery log; and a
-- webhook's choice to send traceparent to its receiver.

-- +goose Up
ALTER TABLE events ADD COLUMN trace_parent text;
ALTER TABLE deliveries ADD COLUMN last_trace_id text;
ALTER TABLE attempts ADD COLUMN trace_id text;
ALTER TABLE webhooks ADD COLUMN send_traceparent boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN send_traceparent;
ALTER TABLE attempts DROP COLUMN trace_id;
ALTER TABLE deliveries DROP COLUMN last_trace_id;
ALTER TABLE events DROP COLUMN trace_parent;
