-- The tables that grow with traffic are partitioned by day (UTC), so that retention drops a day
-- at a time (DROP TABLE of a partition: milliseconds, no dead rows) instead of deleting rows:
--
--   events      by received_at  primary key (id, received_at)
--   deliveries  by created_at   primary key (id, created_at)
--   attempts    by started_at   (no key, as before)
--
-- A delivery's created_at, and its event's received_at, are the stream timestamp of the
-- message it came from: the same on every redelivery, so that ON CONFLICT (id, created_at) still
-- finds a redelivered message's rows. The dispatcher creates each day's partitions ahead
-- (store.EnsurePartitions); the DEFAULT partitions only catch rows outside them, and stay empty
-- in normal operation.
--
-- The previous release's tables are converted in place, with their rows: each is renamed, a
-- partitioned table is created LIKE it (every column, default and check constraint it has when
-- this runs, whatever earlier migrations added), partitions cover every day it holds up to a
-- week ahead, the rows are copied, the old table dropped, and its indexes (read from the
-- catalog) recreated on the partitioned table.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    t          record;
    defs       text[];
    def        text;
    first_day  date;
    today      date := (now() AT TIME ZONE 'UTC')::date;
    d          date;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('events', 'received_at', 'id, received_at'),
                                   ('deliveries', 'created_at', 'id, created_at'),
                                   ('attempts', 'started_at', NULL)) AS v(name, col, pk) LOOP
        SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid)), '{}') INTO defs
            FROM pg_index i WHERE i.indrelid = t.name::regclass AND NOT i.indisprimary;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t.name, t.name || '_unpartitioned');
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED
            INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY RANGE (%I)',
            t.name, t.name || '_unpartitioned', t.col);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t.name || '_default', t.name);
        EXECUTE format('SELECT (min(%I) AT TIME ZONE ''UTC'')::date FROM %I', t.col, t.name || '_unpartitioned') INTO first_day;
        first_day := least(coalesce(first_day, today), today);
        d := first_day;
        WHILE d <= today + 7 LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                t.name || '_p' || to_char(d, 'YYYYMMDD'), t.name,
                (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            d := d + 1;
        END LOOP;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t.name, t.name || '_unpartitioned');
        EXECUTE format('DROP TABLE %I', t.name || '_unpartitioned');
        IF t.pk IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', t.name, t.pk);
        END IF;
        FOREACH def IN ARRAY defs LOOP
            EXECUTE regexp_replace(def, ' ON (ONLY )?\S+ USING ', format(' ON %I USING ', t.name));
        END LOOP;
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    t    record;
    defs text[];
    def  text;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('events', 'id'), ('deliveries', 'id'), ('attempts', NULL)) AS v(name, pk) LOOP
        SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid)), '{}') INTO defs
            FROM pg_index i WHERE i.indrelid = t.name::regclass AND NOT i.indisprimary;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t.name, t.name || '_partitioned');
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED
            INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS)', t.name, t.name || '_partitioned');
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t.name, t.name || '_partitioned');
        EXECUTE format('DROP TABLE %I', t.name || '_partitioned');
        IF t.pk IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (%s)', t.name, t.pk);
        END IF;
        FOREACH def IN ARRAY defs LOOP
            EXECUTE regexp_replace(def, ' ON (ONLY )?\S+ USING ', format(' ON %I USING ', t.name));
        END LOOP;
    END LOOP;
END $$;
-- +goose StatementEnd
