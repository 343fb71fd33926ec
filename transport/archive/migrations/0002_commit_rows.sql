-- A job's history as one row per commit (its events in order) instead of one row per event:
-- a chain job of ten events is two rows to index instead of eleven. The writer inserts a batch
-- in one statement per table (unnest of arrays), so PostgreSQL plans once per batch.

CREATE TABLE avtomat_job_commits (
    job_id  text NOT NULL,
    version integer NOT NULL,  -- of the commit that recorded the events
    events  bytea[] NOT NULL,  -- its msgpack HistoryEvents, in order
    PRIMARY KEY (job_id, version)
);

INSERT INTO avtomat_job_commits (job_id, version, events)
SELECT job_id, version, array_agg(body ORDER BY seq) FROM avtomat_job_events GROUP BY job_id, version;

DROP TABLE avtomat_job_events;
