-- Custom event types, registered at runtime (POST /v1/event-types). event_types holds the
-- current definition of each; event_type_versions every definition ever saved (a deleted and
-- re-created type continues its numbering, so a version names one definition for good). The
-- schema, example and summary are kept as sent (text, not jsonb: the key order is the author's).
-- The dispatcher copies event_types into the JetStream key-value bucket TASKHOOK_EVENT_TYPES,
-- which ingest watches. events.type_version is the version that validated an event of a custom
-- type (ingest sends it in the NATS header Taskhook-Type-Version; null for built-in types).

-- +goose Up
CREATE TABLE event_types (
    type        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    schema      text NOT NULL,
    example     text NOT NULL,
    summary     text NOT NULL,
    version     integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event_type_versions (
    type        text NOT NULL,
    version     integer NOT NULL,
    description text NOT NULL DEFAULT '',
    schema      text NOT NULL,
    example     text NOT NULL,
    summary     text NOT NULL,
    actor       text NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (type, version)
);

ALTER TABLE events ADD COLUMN type_version integer;

-- +goose Down
ALTER TABLE events DROP COLUMN type_version;
DROP TABLE event_type_versions;
DROP TABLE event_types;
