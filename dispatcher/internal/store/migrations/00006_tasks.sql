-- What the dispatcher knows of each task, for the task.due and task.overdue it derives
-- (TASKHOOK_DUE_EVENTS=derive). The latest event is kept sealed (payload); due dates, status and
-- what fired are plaintext: ids and times only. The scheduler finds due reminders through the
-- partial index on next_fire_at: a poll costs the number of tasks due, never the number of
-- tasks waiting.

-- +goose Up
CREATE TABLE tasks (
    task_id           text PRIMARY KEY,
    due_date          timestamptz,
    status            text NOT NULL DEFAULT '',
    last_occurred_at  timestamptz,
    last_seq          bigint NOT NULL DEFAULT 0,
    last_event_at     timestamptz NOT NULL DEFAULT now(),
    payload           bytea,
    due_fired_for     timestamptz,
    due_fired_at      timestamptz,
    overdue_fired_for timestamptz,
    overdue_fired_at  timestamptz,
    next_fire_at      timestamptz,
    closed_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_next_fire_at ON tasks (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX tasks_closed_at ON tasks (closed_at) WHERE closed_at IS NOT NULL;

-- +goose Down
DROP TABLE tasks;
