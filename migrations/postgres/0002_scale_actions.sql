-- One row per scale request (issue 5): what the scaler decided and why
-- (from ScaleRequested in closeloop.actions) and what came of it (from
-- ScaleApplied / ActionFailed in closeloop.outcomes). Either side may be
-- projected first, so each fills only its own columns.
CREATE TABLE scale_actions (
    request_id        uuid PRIMARY KEY,
    scaler            text NOT NULL,
    trigger           text,
    from_replicas     bigint,
    to_replicas       bigint,
    query_value       double precision,
    raw_desired       bigint,
    stabilized        bigint,
    limited_by        jsonb NOT NULL DEFAULT '[]',
    limiting_policy   text,
    reason            text,
    tick_at           timestamptz,
    -- requested, applied, unchanged, drifted, retrying, failed
    result            text NOT NULL,
    observed_replicas bigint,
    applied_replicas  bigint,
    error             text,
    attempts          bigint,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX scale_actions_by_scaler ON scale_actions (scaler, tick_at DESC);
CREATE INDEX scale_actions_by_time ON scale_actions (tick_at DESC, request_id DESC);
