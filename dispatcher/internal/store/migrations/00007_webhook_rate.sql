-- Rate limits shared by every replica: per rate-limited webhook, the time its next message may
-- be sent (the theoretical arrival time of the generic cell rate algorithm). A replica takes a
-- slot with one statement (store.ReserveRate).

-- +goose Up
CREATE TABLE webhook_rate (
    webhook_id uuid PRIMARY KEY,
    tat        timestamptz NOT NULL
);

-- +goose Down
DROP TABLE webhook_rate;
