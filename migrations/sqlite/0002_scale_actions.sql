-- One row per scale request (issue 5): what the scaler decided and why
-- (from ScaleRequested in closeloop.actions) and what came of it (from
-- ScaleApplied / ActionFailed in closeloop.outcomes). Either side may be
-- projected first, so each fills only its own columns.
CREATE TABLE scale_actions (
    request_id        TEXT PRIMARY KEY NOT NULL,
    scaler            TEXT NOT NULL,
    trigger           TEXT,
    from_replicas     INTEGER,
    to_replicas       INTEGER,
    query_value       REAL,
    raw_desired       INTEGER,
    stabilized        INTEGER,
    limited_by        TEXT NOT NULL DEFAULT '[]',
    limiting_policy   TEXT,
    reason            TEXT,
    tick_at           TEXT,
    -- requested, applied, unchanged, drifted, retrying, failed
    result            TEXT NOT NULL,
    observed_replicas INTEGER,
    applied_replicas  INTEGER,
    error             TEXT,
    attempts          INTEGER,
    updated_at        TEXT NOT NULL
);
CREATE INDEX scale_actions_by_scaler ON scale_actions (scaler, tick_at DESC);
CREATE INDEX scale_actions_by_time ON scale_actions (tick_at DESC);
