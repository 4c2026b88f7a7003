-- Read models the projector derives from the log (DESIGN.md "projects").
-- Every row can be rebuilt by replaying the log, so nothing here is a
-- source of truth. Times are RFC 3339 UTC text with a fixed nanosecond
-- fraction (2024-05-02T10:00:00.000000000Z), so text order is time order.
-- JSON columns hold JSON text: label sets as objects, lists as arrays.

-- One row per DeployRecorded event; a deploy reported twice (started, then
-- succeeded) is two rows, as it is two facts.
CREATE TABLE deploys (
    event_id    TEXT PRIMARY KEY NOT NULL,
    service     TEXT NOT NULL,
    environment TEXT NOT NULL,
    version     TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('started', 'succeeded', 'failed', 'rolled_back')),
    started_at  TEXT,
    finished_at TEXT,
    occurred_at TEXT NOT NULL,
    commits     TEXT NOT NULL DEFAULT '[]',
    actor       TEXT,
    url         TEXT,
    labels      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX deploys_by_time ON deploys (occurred_at DESC);
CREATE INDEX deploys_by_service ON deploys (service, environment, occurred_at DESC);

-- The current state of each alert, by fingerprint. A pending alert that
-- clears without firing is deleted, as Prometheus forgets it.
CREATE TABLE alerts (
    fingerprint     TEXT PRIMARY KEY NOT NULL,
    alertname       TEXT NOT NULL,
    rule_group      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    labels          TEXT NOT NULL DEFAULT '{}',
    annotations     TEXT NOT NULL DEFAULT '{}',
    -- NULL when the expression's value was NaN or infinite.
    value           REAL,
    active_at       TEXT NOT NULL,
    fired_at        TEXT,
    resolved_at     TEXT,
    suspect_deploys TEXT NOT NULL DEFAULT '[]',
    generator_url   TEXT,
    -- occurred_at of the last event applied; older events never overwrite.
    updated_at      TEXT NOT NULL,
    last_event_id   TEXT NOT NULL
);
CREATE INDEX alerts_by_state ON alerts (state);

-- Issues in trackers, one row per issue of an alert fingerprint at one
-- tracker integration of one receiver.
CREATE TABLE issues (
    receiver      TEXT NOT NULL,
    integration   TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    issue_id      TEXT NOT NULL,
    tracker       TEXT NOT NULL,
    -- Unknown until IssueFiled is seen (a log that starts mid-story).
    url           TEXT,
    title         TEXT,
    state         TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    occurrences   INTEGER NOT NULL DEFAULT 1,
    adopted       INTEGER NOT NULL DEFAULT 0,
    filed_at      TEXT,
    closed_at     TEXT,
    last_event_at TEXT NOT NULL,
    PRIMARY KEY (receiver, integration, fingerprint, issue_id)
);
CREATE INDEX issues_by_state ON issues (state, last_event_at DESC);

-- Delivery history: every successful effect of an action request.
CREATE TABLE deliveries (
    event_id    TEXT PRIMARY KEY NOT NULL,
    request_id  TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    integration TEXT NOT NULL,
    -- issue_filed, issue_commented, issue_closed, issue_reopened, webhook
    kind        TEXT NOT NULL,
    fingerprint TEXT,
    -- The issue id for tracker effects, the URL for webhooks.
    target      TEXT NOT NULL,
    http_status INTEGER,
    attempts    INTEGER,
    occurred_at TEXT NOT NULL
);
CREATE INDEX deliveries_by_request ON deliveries (request_id);
CREATE INDEX deliveries_by_time ON deliveries (occurred_at DESC);

-- Every failed attempt at an action, with its retry decision.
CREATE TABLE action_failures (
    event_id        TEXT PRIMARY KEY NOT NULL,
    request_id      TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    integration     TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    error           TEXT NOT NULL,
    retryable       INTEGER NOT NULL,
    gave_up         INTEGER NOT NULL,
    next_attempt_at TEXT,
    occurred_at     TEXT NOT NULL
);
CREATE INDEX action_failures_by_request ON action_failures (request_id);
CREATE INDEX action_failures_by_time ON action_failures (occurred_at DESC);

-- Where each consumer has got to in each log partition. Written in the
-- same transaction as the rows it covers, so rows and position never
-- disagree after a crash.
CREATE TABLE checkpoints (
    consumer    TEXT NOT NULL,
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);
