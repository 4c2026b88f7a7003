-- Read models the projector derives from the log (DESIGN.md "projects"),
-- table for table and column for column as ../sqlite/0001_read_models.sql,
-- with native types. Every row can be rebuilt by replaying the log, so
-- nothing here is a source of truth.
--
-- Differences from SQLite, all on purpose:
-- * times are timestamptz, which keeps microseconds: a nanosecond event
--   time loses its last three digits here (SQLite keeps them as text);
-- * alerts.value keeps NaN and +/-Infinity (double precision has them);
--   SQLite stores NULL. Both read them back as "no value", so the API
--   answers null on either backend;
-- * text cannot hold a NUL character in PostgreSQL (nor can jsonb), so
--   the store writes U+FFFD in its place; SQLite keeps it.
-- Keys and ordered text use the "C" collation, so rows sort by bytes as
-- SQLite's BINARY collation does, whatever the database's locale.

-- One row per DeployRecorded event; a deploy reported twice (started, then
-- succeeded) is two rows, as it is two facts.
CREATE TABLE deploys (
    event_id    uuid PRIMARY KEY,
    service     text COLLATE "C" NOT NULL,
    environment text COLLATE "C" NOT NULL,
    version     text NOT NULL,
    status      text NOT NULL
                CHECK (status IN ('started', 'succeeded', 'failed', 'rolled_back')),
    started_at  timestamptz,
    finished_at timestamptz,
    occurred_at timestamptz NOT NULL,
    commits     jsonb NOT NULL DEFAULT '[]',
    actor       text,
    url         text,
    labels      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX deploys_by_time ON deploys (occurred_at DESC, event_id DESC);
CREATE INDEX deploys_by_service ON deploys (service, environment, occurred_at DESC);

-- The current state of each alert, by fingerprint. A pending alert that
-- clears without firing is deleted, as Prometheus forgets it.
CREATE TABLE alerts (
    fingerprint     text COLLATE "C" PRIMARY KEY,
    alertname       text NOT NULL,
    rule_group      text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    labels          jsonb NOT NULL DEFAULT '{}',
    annotations     jsonb NOT NULL DEFAULT '{}',
    -- The expression's value as evaluated, NaN and infinities included.
    value           double precision,
    active_at       timestamptz NOT NULL,
    fired_at        timestamptz,
    resolved_at     timestamptz,
    suspect_deploys jsonb NOT NULL DEFAULT '[]',
    generator_url   text,
    -- occurred_at of the last event applied.
    updated_at      timestamptz NOT NULL,
    last_event_id   uuid NOT NULL
);
CREATE INDEX alerts_by_state ON alerts (state);

-- Issues in trackers, one row per issue of an alert fingerprint at one
-- tracker integration of one receiver.
CREATE TABLE issues (
    receiver      text COLLATE "C" NOT NULL,
    integration   text COLLATE "C" NOT NULL,
    fingerprint   text COLLATE "C" NOT NULL,
    issue_id      text COLLATE "C" NOT NULL,
    tracker       text NOT NULL,
    -- Unknown until IssueFiled is seen (a log that starts mid-story).
    url           text,
    title         text,
    state         text NOT NULL CHECK (state IN ('open', 'closed')),
    occurrences   bigint NOT NULL DEFAULT 1 CHECK (occurrences >= 0),
    adopted       boolean NOT NULL DEFAULT false,
    filed_at      timestamptz,
    closed_at     timestamptz,
    last_event_at timestamptz NOT NULL,
    PRIMARY KEY (receiver, integration, fingerprint, issue_id)
);
CREATE INDEX issues_by_state ON issues (state, last_event_at DESC);

-- Delivery history: every successful effect of an action request.
CREATE TABLE deliveries (
    event_id    uuid PRIMARY KEY,
    request_id  uuid NOT NULL,
    receiver    text NOT NULL,
    integration text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('issue_filed', 'issue_commented',
                                              'issue_closed', 'issue_reopened', 'webhook')),
    fingerprint text,
    -- The issue id for tracker effects, the URL for webhooks.
    target      text NOT NULL,
    http_status integer CHECK (http_status BETWEEN 0 AND 65535),
    attempts    bigint CHECK (attempts >= 0),
    occurred_at timestamptz NOT NULL
);
CREATE INDEX deliveries_by_request ON deliveries (request_id);
CREATE INDEX deliveries_by_time ON deliveries (occurred_at DESC, event_id DESC);

-- Every failed attempt at an action, with its retry decision.
CREATE TABLE action_failures (
    event_id        uuid PRIMARY KEY,
    request_id      uuid NOT NULL,
    receiver        text NOT NULL,
    integration     text NOT NULL,
    attempt         bigint NOT NULL CHECK (attempt >= 0),
    error           text NOT NULL,
    retryable       boolean NOT NULL,
    gave_up         boolean NOT NULL,
    next_attempt_at timestamptz,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX action_failures_by_request ON action_failures (request_id);
CREATE INDEX action_failures_by_time ON action_failures (occurred_at DESC, event_id DESC);

-- Where each consumer has got to in each log partition. Written in the
-- same transaction as the rows it covers, so rows and position never
-- disagree after a crash; a batch locks its row (SELECT ... FOR UPDATE)
-- first, so two projector processes that briefly share a partition
-- during a consumer group rebalance apply it one after the other.
CREATE TABLE checkpoints (
    consumer    text COLLATE "C" NOT NULL,
    topic       text COLLATE "C" NOT NULL,
    partition   bigint NOT NULL CHECK (partition BETWEEN 0 AND 4294967295),
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    PRIMARY KEY (consumer, topic, partition)
);
