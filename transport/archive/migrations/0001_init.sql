-- The job archive: one row per job (its newest committed version) and one per history event.
-- Times are epoch seconds (double precision), as in the job's own state and the API.

CREATE TABLE avtomat_jobs (
    id            text PRIMARY KEY,
    client_id     text NOT NULL,
    blueprint     text NOT NULL,
    status        text NOT NULL,
    current_state text NOT NULL,
    created_at    double precision NOT NULL,
    updated_at    double precision NOT NULL,
    finished_at   double precision,
    version       integer NOT NULL,
    state         bytea NOT NULL  -- msgpack JobState, as the store kept it
);

-- GET /api/v1/jobs: a client's jobs newest first, optionally of one status or one blueprint.
CREATE INDEX avtomat_jobs_client ON avtomat_jobs (client_id, created_at DESC, id DESC);
CREATE INDEX avtomat_jobs_client_status ON avtomat_jobs (client_id, status, created_at DESC, id DESC);
CREATE INDEX avtomat_jobs_client_blueprint ON avtomat_jobs (client_id, blueprint, created_at DESC, id DESC);
-- HISTORY_RETENTION_DAYS: the ended jobs oldest first.
CREATE INDEX avtomat_jobs_finished ON avtomat_jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE avtomat_job_events (
    job_id  text NOT NULL,
    version integer NOT NULL,  -- of the commit that recorded the event
    seq     integer NOT NULL,  -- its position in that commit
    at      double precision NOT NULL,
    event   text NOT NULL,
    state   text NOT NULL,
    body    bytea NOT NULL,  -- msgpack HistoryEvent
    PRIMARY KEY (job_id, version, seq)
);
